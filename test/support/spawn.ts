// Runs the real server as a child process (`node --import tsx src/main.ts`, or another
// entry such as the compiled dist/src/main.js) for tests that need signals, restarts,
// crashes, a separate heap or a production install.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface SpawnOptions {
  /** Extra environment (OPENLOOP_* overrides); the parent's OPENLOOP_* variables are not inherited. */
  env?: Record<string, string>;
  /** Config object, written to a temp YAML file passed as OPENLOOP_CONFIG. */
  config?: Record<string, unknown>;
  /** Data directory; a fresh temp dir (removed after exit) unless given. Reuse it to test restarts. */
  dataDir?: string;
  /** How long to wait for the listening log line. */
  startTimeoutMs?: number;
  /** Node's arguments and the working directory; by default `--import tsx src/main.ts` in the repository. */
  command?: { args: string[]; cwd: string };
}

export interface SpawnedServer {
  readonly port: number;
  readonly pid: number;
  readonly baseUrl: string;
  readonly dataDir: string;
  /** Parsed JSON log lines so far (non-JSON lines appear as { raw }). */
  readonly logs: Record<string, unknown>[];
  /** Everything the process wrote, stdout and stderr, for failure messages. */
  output(): string;
  /** Resolves with the first log line (current or future) for which `match` is true. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then wait for the exit (SIGKILL after 20 s); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

export async function spawnServer(opts: SpawnOptions = {}): Promise<SpawnedServer> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-spawn-"));
  const dataDir = opts.dataDir ?? path.join(tmp, "data");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (!k.startsWith("OPENLOOP_") || k.startsWith("OPENLOOP_TEST_"))) env[k] = v;
  }
  const server = (opts.config?.server ?? {}) as Record<string, unknown>;
  if (server.port === undefined) env.OPENLOOP_PORT = "0";
  if (server.host === undefined) env.OPENLOOP_HOST = "127.0.0.1";
  env.OPENLOOP_DATA_DIR = dataDir;
  // The port is read from the "openloop listening" line, so info must be on.
  env.OPENLOOP_LOG_LEVEL = "info";
  if (opts.config) {
    const file = path.join(tmp, "openloop.yaml");
    await writeFile(file, stringify(opts.config));
    env.OPENLOOP_CONFIG = file;
  }
  Object.assign(env, opts.env);

  const { args, cwd } = opts.command ?? { args: ["--import", "tsx", "src/main.ts"], cwd: ROOT };
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  let out = "";
  const echo = Boolean(process.env.OPENLOOP_TEST_LOG);
  let partial = "";
  const onLine = (line: string) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { raw: line };
    }
    logs.push(parsed);
    for (const w of waiters) {
      if (w.match(parsed)) {
        waiters.delete(w);
        w.resolve(parsed);
      }
    }
  };
  child.stdout.on("data", (d: Buffer) => {
    const s = d.toString();
    out += s;
    if (echo) process.stdout.write(s);
    partial += s;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) onLine(l);
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
    if (echo) process.stderr.write(d);
  });

  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
  }).finally(() => rm(tmp, { recursive: true, force: true }).catch(() => {}));

  const waitForLog = (match: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { match, resolve };
      waiters.add(w);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`log line not seen within ${timeoutMs} ms; output:\n${out}`));
      }, timeoutMs);
      timer.unref();
      void exited.then((code) => {
        if (!waiters.has(w)) return;
        waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}) before the log line; output:\n${out}`));
      });
    });
  };

  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l.msg === "openloop listening", opts.startTimeoutMs ?? 60_000);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const port = Number(listening.port);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      timer.unref();
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return {
    port,
    pid: child.pid!,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    logs,
    output: () => out,
    waitForLog,
    kill: (signal = "SIGTERM") => void child.kill(signal),
    stop,
    exited,
  };
}
