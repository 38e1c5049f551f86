// Platform overhead bench: ghz load on grpc.health.v1.Health/Check against the production
// server (src/main.ts: one-port listener, auth, metrics, logging at info) versus a bare
// @grpc/grpc-js Server (proto-loader health, nothing else) and, for reference, a bare
// `http2.createServer(connectNodeAdapter(...))`, in the same run, each in its own process.
// Rounds alternate between the servers so that background load hits all of them.
// Prints one markdown section.
//
//   node --import tsx bench/platform.ts [--seconds 5] [--rounds 5] [--concurrency 50]
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { spawnServer } from "../test/support/spawn.js";
import { ROOT } from "../test/support/tools.js";
import { HEALTH_PROTO, startBareGrpcJs, type BareServer } from "./support/bare-grpc-js.js";
import { ghz as runGhz, type GhzResult } from "./support/ghz.js";
import { median, settle } from "./support/proc.js";

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

type Result = GhzResult;

const ghz = (port: number, seconds: number, withKey: boolean, pid?: number) =>
  runGhz(port, { call: "grpc.health.v1.Health/Check", data: '{"service":""}', proto: HEALTH_PROTO, metadata: withKey ? { authorization: `Bearer ${API_KEY}` } : undefined }, { seconds, concurrency: CONCURRENCY, pid });
const measure = (pid: number, port: number, seconds: number, withKey: boolean) => ghz(port, seconds, withKey, pid);

async function startBareConnect(): Promise<BareServer> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/platform.ts"), "--bare-connect"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

type Name = "grpcjs" | "connect" | "prod";

async function main(): Promise<void> {
  const prod = await spawnServer({ env: { OPENLOOP_API_KEYS: API_KEY } });
  const servers = { grpcjs: await startBareGrpcJs(), connect: await startBareConnect(), prod };
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
      "The production server is `src/main.ts` (one-port listener routing HTTP/2 connections on their first request, gRPC served by its own HTTP/2 transport, API-key auth configured and the key sent, " +
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
} else {
  await main();
}
