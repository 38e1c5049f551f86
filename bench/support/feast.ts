// Feast (PyPI feast 0.67.0, `feast serve` over a Redis online store), the peer of the feature
// bench: the same entities and features as openloop's, read over its HTTP API.
// Installed by scripts/install-peer-feast.sh into ~/.cache/openloop/peers/feast-0.67.0.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { cpuMicros } from "./proc.js";
import { freePort } from "../../test/support/redis.js";

export const FEAST_VERSION = "0.67.0";
const VENV = path.join(os.homedir(), ".cache/openloop/peers", `feast-${FEAST_VERSION}`);
const FEATURES = [...Array.from({ length: 6 }, (_, i) => `bench:d${i}`), "bench:i0", "bench:i1", "bench:country", "bench:active", "bench:embedding", "bench:tags"];

export const feastInstalled = (): boolean => existsSync(path.join(VENV, "bin/feast"));
export const FEAST_INSTALL_HINT = "bash scripts/install-peer-feast.sh";

export interface FeastServer {
  /** Reads `entities` (user-<i> keys) with every feature. */
  get(entities: readonly string[]): Promise<void>;
  /** CPU time of the server's processes (gunicorn and its worker), in µs. */
  cpuMicros(): number;
  stop(): Promise<void>;
}

/** Loads `entities` entities into Redis at `redisAddr` (host:port) and starts `feast serve` on them. */
export async function startFeast(redisAddr: string, entities: number): Promise<FeastServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-feast-"));
  const python = path.join(VENV, "bin/python");
  await new Promise<void>((resolve, reject) =>
    execFile(python, [path.join(import.meta.dirname, "feast/setup_repo.py"), dir, redisAddr, String(entities)], { maxBuffer: 16 << 20 }, (err, _o, stderr) =>
      err ? reject(new Error(`feast repo setup failed: ${stderr.slice(-2000)}`)) : resolve(),
    ),
  );
  const port = await freePort();
  // One worker, never recycled (gunicorn restarts a worker every 1,000 requests by default).
  const child = spawn(path.join(VENV, "bin/feast"), ["serve", "-h", "127.0.0.1", "-p", String(port), "-w", "1", "--no-access-log", "--max-requests", "0"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const post = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: "/get-online-features", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(body);
    });
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`feast serve exited: ${log}`);
    const status = await post(JSON.stringify({ features: FEATURES, entities: { user_id: ["user-1"] } })).catch(() => 0);
    if (status === 200) break;
    if (Date.now() - started > 60_000) throw new Error(`feast serve did not answer within 60 s: ${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    async get(keys) {
      const status = await post(JSON.stringify({ features: FEATURES, entities: { user_id: keys } }));
      if (status !== 200) throw new Error(`feast answered HTTP ${status}`);
    },
    cpuMicros: () => [child.pid!, ...childrenOf(child.pid!)].reduce((sum, pid) => sum + safeCpu(pid), 0),
    async stop() {
      agent.destroy();
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.split(") ")[1].split(" ")[1]) === pid) out.push(Number(entry), ...childrenOf(Number(entry)));
    } catch {
      // gone
    }
  }
  return out;
}

function safeCpu(pid: number): number {
  try {
    return cpuMicros(pid);
  } catch {
    return 0;
  }
}

