// Platform overhead bench: ghz load on grpc.health.v1.Health/Check against the production
// server (src/main.ts: one-port listener, auth, metrics, logging at info) versus a bare
// `http2.createServer(connectNodeAdapter(...))` serving only health, in the same run, each
// in its own process. Rounds alternate between the two so that background load hits both.
// Prints one markdown section.
//
//   node --import tsx bench/platform.ts [--seconds 5] [--rounds 5] [--concurrency 50]
import { spawn, execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { spawnServer } from "../test/support/spawn.js";
import { findTool, ROOT } from "../test/support/tools.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg("seconds", 5);
const ROUNDS = arg("rounds", 5);
const CONCURRENCY = arg("concurrency", 50);
const WARMUP_SECONDS = 2;
const API_KEY = "bench-api-key-0123456789";
const TARGET = 0.85;

interface GhzReport {
  rps: number;
  count: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number>;
  errorDistribution?: Record<string, number> | null;
}

interface Result {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  count: number;
  /** Server CPU time (user + system) per call, in microseconds: robust to other load on the machine. */
  cpuUsPerCall: number;
  /** Distinct error messages other than the cancellation of in-flight calls at the end. */
  errorKinds: string[];
}

const TICK_US = 1e6 / 100; // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ)

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** Waits until the process stays nearly idle for a second (modules may warm up in the background). */
async function settle(pid: number): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const before = cpuTicks(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuTicks(pid) - before <= 5) return;
  }
}

async function measure(pid: number, port: number, seconds: number, withKey: boolean): Promise<Result> {
  const before = cpuTicks(pid);
  const r = await ghz(port, seconds, withKey);
  const ticks = cpuTicks(pid) - before;
  return { ...r, cpuUsPerCall: (ticks * TICK_US) / Math.max(1, r.count) };
}

function ghz(port: number, seconds: number, withKey: boolean): Promise<Omit<Result, "cpuUsPerCall">> {
  const args = [
    "--insecure",
    "--proto", path.join(ROOT, "proto/grpc/health/v1/health.proto"),
    "--import-paths", path.join(ROOT, "proto"),
    "--call", "grpc.health.v1.Health/Check",
    "-d", '{"service":""}',
    "-c", String(CONCURRENCY),
    "-z", `${seconds}s`,
    "-O", "json",
    ...(withKey ? ["-m", JSON.stringify({ authorization: `Bearer ${API_KEY}` })] : []),
    `127.0.0.1:${port}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(findTool("ghz", "go install github.com/bojand/ghz/cmd/ghz@latest"), args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !stdout) return reject(new Error(`ghz failed: ${stderr || err.message}`));
      const r = JSON.parse(stdout) as GhzReport;
      const pct = (p: number) => (r.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
      // ghz cancels the calls still in flight when the duration is over: those are not errors.
      const ok = r.statusCodeDistribution.OK ?? 0;
      const canceled = r.statusCodeDistribution.Canceled ?? 0;
      // ...nor those it reports as "transport is closing" when it closes the connection at the end.
      const closing = Object.entries(r.errorDistribution ?? {}).reduce((n, [k, v]) => (k.includes("transport is closing") ? n + v : n), 0);
      const errorKinds = Object.keys(r.errorDistribution ?? {}).filter((k) => !k.includes("code = Canceled") && !k.includes("transport is closing"));
      resolve({ rps: r.rps, p50Ms: pct(50), p99Ms: pct(99), errors: r.count - ok - canceled - closing, count: ok, errorKinds });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function startBare(): Promise<{ port: number; pid: number; stop(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/platform.ts"), "--bare-server"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

async function main(): Promise<void> {
  const prod = await spawnServer({ env: { OPENLOOP_API_KEYS: API_KEY } });
  const bare = await startBare();
  try {
    const runs: Record<"bare" | "prod", Result[]> = { bare: [], prod: [] };
    await settle(prod.pid);
    await ghz(bare.port, WARMUP_SECONDS, false);
    await ghz(prod.port, WARMUP_SECONDS, true);
    for (let round = 0; round < ROUNDS; round++) {
      runs.bare.push(await measure(bare.pid, bare.port, SECONDS, false));
      runs.prod.push(await measure(prod.pid, prod.port, SECONDS, true));
    }
    const summary = (rs: Result[]) => ({
      rps: median(rs.map((r) => r.rps)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      count: rs.reduce((n, r) => n + r.count, 0),
      cpuUsPerCall: median(rs.map((r) => r.cpuUsPerCall)),
      errorKinds: [...new Set(rs.flatMap((r) => r.errorKinds))],
    });
    const b = summary(runs.bare);
    const p = summary(runs.prod);
    // Each round measures both servers back to back: the median of the paired ratios is the
    // figure least moved by load from elsewhere on the machine.
    const perRound = runs.prod.map((r, i) => r.rps / runs.bare[i].rps);
    const ratio = median(perRound);
    const cpuRatio = b.cpuUsPerCall / p.cpuUsPerCall;
    const f = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    const load = os.loadavg().map((x) => x.toFixed(1)).join(", ");
    const out = [
      "## Platform: production server vs bare connectNodeAdapter",
      "",
      "`npm run bench -- platform` (runs `node --import tsx bench/platform.ts`): ghz on `grpc.health.v1.Health/Check`, " +
        `${CONCURRENCY} concurrent calls on one HTTP/2 connection, ${ROUNDS} alternating rounds of ${SECONDS} s per server after a ${WARMUP_SECONDS} s warm-up; medians shown.`,
      "The production server is `src/main.ts` as shipped (one-port listener with HTTP/1.1 sniffing, API-key auth configured and the key sent, " +
        "Prometheus metrics per RPC, pino at info, every service module loaded); the bare server is `http2.createServer(connectNodeAdapter(...))` with only health. Both run in their own process.",
      "",
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load average during the run ${load} (shared with other work).`,
      "",
      "| server | requests/s | p50 ms | p99 ms | server CPU µs/call | calls | errors |",
      "|---|---:|---:|---:|---:|---:|---:|",
      `| bare connectNodeAdapter | ${f(b.rps)} | ${f(b.p50Ms, 2)} | ${f(b.p99Ms, 2)} | ${f(b.cpuUsPerCall)} | ${f(b.count)} | ${b.errors} |`,
      `| openloop (auth, metrics, logging) | ${f(p.rps)} | ${f(p.p50Ms, 2)} | ${f(p.p99Ms, 2)} | ${f(p.cpuUsPerCall)} | ${f(p.count)} | ${p.errors} |`,
      "",
      `Production throughput is **${(ratio * 100).toFixed(1)}%** of bare (median of the rounds' ratios: ${perRound.map((x) => `${(x * 100).toFixed(0)}%`).join(", ")}); ` +
        `by server CPU per call, which other load on the machine disturbs less, it is ${(cpuRatio * 100).toFixed(1)}%. ` +
        `Target ≥ ${TARGET * 100}% of bare throughput: **${ratio >= TARGET ? "met" : "not met"}**.`,
      ...[...b.errorKinds.map((k) => `- bare error: ${k}`), ...p.errorKinds.map((k) => `- openloop error: ${k}`)],
      "",
    ];
    process.stdout.write(out.join("\n"));
  } finally {
    bare.stop();
    await prod.stop();
  }
}

if (process.argv.includes("--bare-server")) {
  // Child mode: the baseline server, health only, nothing else.
  const handler = connectNodeAdapter({
    routes: (router) => router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) }),
  });
  const server = http2.createServer(handler);
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}
