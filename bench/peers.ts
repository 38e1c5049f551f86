// Other LLM gateways for bench/llm.ts to compare with, in the same run against the same fake
// upstream: Portkey (npm @portkey-ai/gateway) and LiteLLM (PyPI litellm[proxy]). Each is
// installed outside the project's dependencies by scripts/bench.sh (ensure_peers), into
// ~/.cache/openloop/peers/ or $OPENLOOP_PEERS_DIR; a peer that is not installed is skipped, and
// the bench says so. Also the HTTP load generator (hey) the bench drives HTTP systems with.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { findTool, ROOT } from "../test/support/tools.js";
import { cpuMicros } from "./support/proc.js";
import { freePort } from "../test/support/redis.js";

export const PEERS_DIR = process.env.OPENLOOP_PEERS_DIR ?? path.join(os.homedir(), ".cache/openloop/peers");
export const PORTKEY_VERSION = "1.15.2";
export const LITELLM_VERSION = "1.106.12";
const INSTALL_HINT = "`npm run bench -- llm` installs it (scripts/bench.sh, ensure_peers)";

/** A gateway in a child process, serving OpenAI chat completions over HTTP/1.1 on loopback. */
export interface Peer {
  readonly name: string;
  readonly pid: number;
  /** Its chat completions URL. */
  readonly url: string;
  /** Headers every request carries (routing, credentials). */
  readonly headers: Record<string, string>;
  /** The model name to ask it for. */
  readonly model: string;
  stop(): Promise<void>;
}

export interface Peers {
  readonly started: Peer[];
  /** One line per peer that is not installed, naming how to install it. */
  readonly skipped: string[];
}

/** Starts every installed peer, each routing to `upstream` (an OpenAI base URL ending in /v1) with `apiKey`. */
export async function startPeers(upstream: string, apiKey: string): Promise<Peers> {
  const started: Peer[] = [];
  const skipped: string[] = [];
  const portkeyDir = path.join(PEERS_DIR, `portkey-${PORTKEY_VERSION}`);
  const portkeyMain = path.join(portkeyDir, "node_modules/@portkey-ai/gateway/build/start-server.js");
  if (existsSync(portkeyMain)) started.push(await startPortkey(portkeyDir, portkeyMain, upstream, apiKey));
  else skipped.push(`skipped: Portkey ${PORTKEY_VERSION} not installed in ${portkeyDir} (${INSTALL_HINT})`);
  const litellm = path.join(PEERS_DIR, `litellm-${LITELLM_VERSION}`, "bin/litellm");
  if (existsSync(litellm)) started.push(await startLiteLlm(litellm, upstream, apiKey));
  else skipped.push(`skipped: LiteLLM ${LITELLM_VERSION} not installed in ${path.dirname(path.dirname(litellm))} (${INSTALL_HINT})`);
  return { started, skipped };
}

async function startPortkey(dir: string, main: string, upstream: string, apiKey: string): Promise<Peer> {
  const port = await freePort();
  // Portkey listens on every interface and has no option for it: the preload binds it to loopback.
  const child = spawn(process.execPath, ["--import", path.join(ROOT, "bench/peers-loopback.ts"), main, `--port=${port}`, "--headless"], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const base = `http://127.0.0.1:${port}`;
  await ready(child, "Portkey", `${base}/`);
  return {
    name: `Portkey ${PORTKEY_VERSION}`,
    pid: child.pid!,
    url: `${base}/v1/chat/completions`,
    headers: { "x-portkey-provider": "openai", "x-portkey-custom-host": upstream, authorization: `Bearer ${apiKey}` },
    model: "gpt-bench",
    stop: () => stop(child),
  };
}

async function startLiteLlm(bin: string, upstream: string, apiKey: string): Promise<Peer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-litellm-"));
  // The proxy refuses to start without a master key; callers then send it as their bearer token.
  const masterKey = "sk-openloop-bench-5f2b9c0e7d1a4b3c8e6f0a9d2c7b1e4f";
  await writeFile(
    path.join(dir, "config.yaml"),
    [
      "model_list:",
      "  - model_name: bench",
      "    litellm_params:",
      "      model: openai/gpt-bench",
      `      api_base: ${upstream}`,
      `      api_key: ${apiKey}`,
      "general_settings:",
      `  master_key: ${masterKey}`,
      "",
    ].join("\n"),
  );
  const child = spawn(bin, ["--config", "config.yaml", "--num_workers", "1", "--host", "127.0.0.1", "--port", String(port), "--telemetry", "False"], {
    cwd: dir,
    // Without the local cost map it fetches a price list from the internet at start.
    env: { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: "True" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const base = `http://127.0.0.1:${port}`;
  await ready(child, "LiteLLM", `${base}/health/liveliness`);
  return {
    name: `LiteLLM ${LITELLM_VERSION}`,
    pid: child.pid!,
    url: `${base}/v1/chat/completions`,
    headers: { authorization: `Bearer ${masterKey}` },
    model: "bench",
    stop: async () => {
      await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `url` answers 200 (peers take 1-30 s to start), or fails with the peer's stderr. */
async function ready(child: ChildProcess, name: string, url: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready:\n${stderr}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill("SIGKILL");
  throw new Error(`${name} was not ready within 90 s:\n${stderr}`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export interface LoadResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls answered 200. */
  readonly count: number;
  readonly errors: number;
  /** Server CPU time per answered call, in µs, from /proc (the server's process only). */
  readonly cpuUsPerCall: number;
}

/**
 * `concurrency` keep-alive HTTP/1.1 connections POSTing `body` for `seconds`, with hey (a Go
 * load generator, as ghz is for gRPC: neither competes with the servers for Node's CPU).
 */
export async function hey(url: string, headers: Record<string, string>, body: string, opts: { seconds: number; concurrency: number; pid: number }): Promise<LoadResult> {
  const args = ["-z", `${opts.seconds}s`, "-c", String(opts.concurrency), "-m", "POST", "-T", "application/json", "-d", body];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const before = cpuMicros(opts.pid);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(findTool("hey", "go install github.com/rakyll/hey@v0.1.5"), args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`hey failed: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
  const cpu = cpuMicros(opts.pid) - before;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const pct = (p: number) => Number(new RegExp(`\\b${p}%+ in ([\\d.]+) secs`).exec(out)?.[1] ?? NaN) * 1000;
  const ok = Number(/\[200\]\s+(\d+) responses/.exec(out)?.[1] ?? 0);
  const statuses = [...out.matchAll(/\[(\d+)\]\s+(\d+) responses/g)].reduce((n, m) => n + Number(m[2]), 0);
  // Like ghz, hey cuts the requests in flight when the time is up; those are not the server's errors.
  const errorSection = out.includes("Error distribution:") ? out.slice(out.indexOf("Error distribution:")) : "";
  const errorLines = [...errorSection.matchAll(/\[(\d+)\]\t(.+)$/gm)].filter((m) => !/deadline exceeded|request canceled|context canceled/.test(m[2]));
  const errors = statuses - ok + errorLines.reduce((n, m) => n + Number(m[1]), 0);
  return { rps: (ok / Math.max(1, statuses)) * rps, p50Ms: pct(50), p99Ms: pct(99), count: ok, errors, cpuUsPerCall: cpu / Math.max(1, ok) };
}
