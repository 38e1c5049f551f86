// Platform overhead bench: ghz load on grpc.health.v1.Health/Check against the production
// server (src/main.ts: one-port listener, auth, metrics, logging at info) versus a bare
// @grpc/grpc-js Server (proto-loader health, nothing else) and, for reference, a bare
// `http2.createServer(connectNodeAdapter(...))`, in the same run, each in its own process.
// Rounds alternate between the servers so that background load hits all of them.
// Prints one markdown section.
//
//   node --import tsx bench/platform.ts [--seconds 5] [--rounds 5] [--concurrency 50]
import { spawn, execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
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
/** Targets against bare grpc-js: throughput at least this share, server CPU per call at most this multiple. */
const TARGET_THROUGHPUT = 0.7;
const TARGET_CPU = 1.5;

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

async function startBare(kind: "grpc-js" | "connect"): Promise<{ port: number; pid: number; stop(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/platform.ts"), `--bare-${kind}`], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

type Name = "grpcjs" | "connect" | "prod";

async function main(): Promise<void> {
  const prod = await spawnServer({ env: { OPENLOOP_API_KEYS: API_KEY } });
  const servers = { grpcjs: await startBare("grpc-js"), connect: await startBare("connect"), prod };
  try {
    const runs: Record<Name, Result[]> = { grpcjs: [], connect: [], prod: [] };
    await settle(prod.pid);
    const names: Name[] = ["grpcjs", "connect", "prod"];
    for (const name of names) await ghz(servers[name].port, WARMUP_SECONDS, name === "prod");
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of names) runs[name].push(await measure(servers[name].pid, servers[name].port, SECONDS, name === "prod"));
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
    const g = summary(runs.grpcjs);
    const c = summary(runs.connect);
    const p = summary(runs.prod);
    // Each round measures the servers back to back: the median of the paired ratios is the
    // figure least moved by load from elsewhere on the machine.
    const rpsRatios = runs.prod.map((r, i) => r.rps / runs.grpcjs[i].rps);
    const cpuRatios = runs.prod.map((r, i) => r.cpuUsPerCall / runs.grpcjs[i].cpuUsPerCall);
    const rpsRatio = median(rpsRatios);
    const cpuRatio = median(cpuRatios);
    const f = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    const load = os.loadavg().map((x) => x.toFixed(1)).join(", ");
    const row = (label: string, r: ReturnType<typeof summary>) =>
      `| ${label} | ${f(r.rps)} | ${f(r.p50Ms, 2)} | ${f(r.p99Ms, 2)} | ${f(r.cpuUsPerCall)} | ${f(r.count)} | ${r.errors} |`;
    const out = [
      "## Platform: production server vs bare grpc-js",
      "",
      "`npm run bench -- platform` (runs `node --import tsx bench/platform.ts`): ghz on `grpc.health.v1.Health/Check`, " +
        `${CONCURRENCY} concurrent calls on one HTTP/2 connection, ${ROUNDS} alternating rounds of ${SECONDS} s per server after a ${WARMUP_SECONDS} s warm-up; medians shown.`,
      "The production server is `src/main.ts` (one-port listener routing HTTP/2 connections on their first request, gRPC served by grpc-js, API-key auth configured and the key sent, " +
        "Prometheus metrics per RPC, pino at info, every service module loaded); the baseline is a bare `@grpc/grpc-js` Server with only health (proto-loader); " +
        "bare `http2.createServer(connectNodeAdapter(...))`, what served gRPC before, is shown for reference. Each runs in its own process.",
      "",
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}, load average during the run ${load} (shared with other work).`,
      "",
      "| server | requests/s | p50 ms | p99 ms | server CPU µs/call | calls | errors |",
      "|---|---:|---:|---:|---:|---:|---:|",
      row("bare @grpc/grpc-js (baseline)", g),
      row("bare connectNodeAdapter (reference)", c),
      row("openloop (auth, metrics, logging)", p),
      "",
      `- Throughput: openloop is **${pct(rpsRatio)}** of bare grpc-js (median of the rounds' ratios: ${rpsRatios.map(pct).join(", ")}). ` +
        `Target ≥ ${pct(TARGET_THROUGHPUT)}: **${rpsRatio >= TARGET_THROUGHPUT ? "met" : "not met"}**.`,
      `- Server CPU per call: openloop is **${cpuRatio.toFixed(2)}×** bare grpc-js (rounds: ${cpuRatios.map((x) => `${x.toFixed(2)}×`).join(", ")}). ` +
        `Target ≤ ${TARGET_CPU}×: **${cpuRatio <= TARGET_CPU ? "met" : "not met"}**. Against bare connect-node it is ${(p.cpuUsPerCall / c.cpuUsPerCall).toFixed(2)}×.`,
      ...[...g.errorKinds.map((k) => `- grpc-js error: ${k}`), ...c.errorKinds.map((k) => `- connect error: ${k}`), ...p.errorKinds.map((k) => `- openloop error: ${k}`)],
      "",
    ];
    process.stdout.write(out.join("\n"));
  } finally {
    servers.grpcjs.stop();
    servers.connect.stop();
    await prod.stop();
  }
}

const announce = (port: number) => process.stdout.write(`${port}\n`);

if (process.argv.includes("--bare-connect")) {
  // Child mode: connect-node over HTTP/2, health only, nothing else.
  const handler = connectNodeAdapter({
    routes: (router) => router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) }),
  });
  const server = http2.createServer(handler);
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    announce(typeof address === "object" && address ? address.port : 0);
  });
  process.on("SIGTERM", () => process.exit(0));
} else if (process.argv.includes("--bare-grpc-js")) {
  // Child mode: a plain grpc-js server as its users write one (proto-loader), health only.
  const definition = protoLoader.loadSync(path.join(ROOT, "proto/grpc/health/v1/health.proto"), { includeDirs: [path.join(ROOT, "proto")] });
  const health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const server = new grpc.Server();
  server.addService(health.service, { check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: "SERVING" }) });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    announce(port);
  });
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}
