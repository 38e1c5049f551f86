// Profiling helper for the feature bench (not a bench itself): starts Redis and the server (src/main.ts through tsx, or dist/src/main.js with DIST=1, or the tree in $BEFORE) with the given node flags ("DIR" in a flag becomes a fresh temp directory), loads the bench's 10,000 entities, then drives one method at concurrency 1 (ghz: get, batch, health; the Go bench client: goget, gobatch, gohealth; a trailing 50 means ghz at concurrency 50) and prints p50/p99, req/s and server CPU per call as JSON, and --trace-gc lines into DIR/gc.log.
//   flock /tmp/openloop-bench.lock node --import tsx bench/support/feature-profile.ts goget 8 --cpu-prof --cpu-prof-dir=DIR
//   node bench/support/cpuprofile-top.mjs DIR/*.cpuprofile <calls> [rows] [last seconds]   (self time per call by function)
//   HEAPS=1 ... --import=$PWD/bench/support/heap-sample-survivors.mjs: sampled allocations that survive scavenges; MIDSNAP=1 with --heapsnapshot-signal=SIGUSR2: a heap snapshot mid-run
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { startRedis } from "../../test/support/redis.js";
import { spawnServer } from "../../test/support/spawn.js";
import { createGrpcJsTransport } from "../../test/support/grpc-js-transport.js";
import { ghz } from "./ghz.js";
import { cpuMicros } from "./proc.js";

const [mode, secs, ...flags] = process.argv.slice(2);
const dir = await mkdtemp(path.join(os.tmpdir(), "featprof-"));
const redis = await startRedis();
const server = await spawnServer({ env: { HEAPSAMPLE_OUT: path.join(dir, "heap.json") },
  command: { args: [...flags.map((f) => f.replace("DIR", dir)), ...(process.env.DIST ? ["dist/src/main.js"] : ["--import", "tsx", "src/main.ts"])], cwd: process.env.BEFORE ?? path.resolve(import.meta.dirname, "../..") },
  config: { llm: { providers: {}, models: [] }, feedback: {}, pipeline: {}, registry: {}, feature: { store: "redis", redis: { url: redis.url, keyPrefix: "p:", commandTimeoutMs: 10_000 } } },
});
const t = createGrpcJsTransport(`127.0.0.1:${server.port}`);
const client = createClient(FeatureService, t);
await client.createFeatureSet({ featureSet: { name: "bench", defaultTtl: { seconds: 0n }, features: [
  ...Array.from({ length: 6 }, (_, i) => ({ name: `d${i}`, type: FeatureType.DOUBLE })),
  { name: "i0", type: FeatureType.INT64 }, { name: "i1", type: FeatureType.INT64 }, { name: "country", type: FeatureType.STRING },
  { name: "active", type: FeatureType.BOOL }, { name: "embedding", type: FeatureType.DOUBLE_LIST }, { name: "tags", type: FeatureType.STRING_LIST }] } });
for (let i = 0; i < 10000; i += 100) {
  await Promise.all(Array.from({ length: 100 }, (_, j) => client.putFeatures({ featureSet: "bench", entityKey: `user-${i + j}`, features: {
    ...Object.fromEntries(Array.from({ length: 6 }, (_, d) => [`d${d}`, { kind: { case: "doubleValue", value: Math.random() * 100 } }])),
    i0: { kind: { case: "int64Value", value: BigInt(i + j) } }, i1: { kind: { case: "int64Value", value: 42n } },
    country: { kind: { case: "stringValue", value: "fr" } }, active: { kind: { case: "boolValue", value: true } },
    embedding: { kind: { case: "doubleList", value: { values: Array.from({ length: 16 }, () => Math.random()) } } },
    tags: { kind: { case: "stringList", value: { values: ["a", "bb", "ccc"] } } } } })));
}
t.close();
const calls: Record<string, [string, string]> = {
  get: ["openloop.feature.v1.FeatureService/GetFeatures", JSON.stringify({ featureSet: "bench", entityKey: "user-{{randomInt 0 9999}}" })],
  batch: ["openloop.feature.v1.FeatureService/BatchGetFeatures", JSON.stringify({ featureSet: "bench", entityKeys: Array.from({ length: 100 }, (_, j) => `user-${(j * 7919) % 10000}`) })],
  health: ["grpc.health.v1.Health/Check", JSON.stringify({ service: "" })],
};
let r: { p50Ms: number; p99Ms: number; rps: number; count: number; errors: number; p999Ms?: number; maxMs?: number };
let c0: number;
if (mode.startsWith("go")) {
  const { runGoFeatureClient } = await import("./go-feature-client.js");
  const m = mode.slice(2) as "get" | "batch" | "health";
  await runGoFeatureClient(server.port, m, { seconds: 1, entities: 10000, batch: 100 });
  c0 = cpuMicros(server.pid);
  if (process.env.HEAPS) process.kill(server.pid, "SIGUSR2");
  if (process.env.MIDSNAP) setTimeout(() => process.kill(server.pid, "SIGUSR2"), 2000);
  r = await runGoFeatureClient(server.port, m, { seconds: Number(secs), entities: 10000, batch: 100 });
} else {
const conc = mode.endsWith("50") ? 50 : 1;
const [call, data] = calls[mode.replace(/50$/, "")];
await ghz(server.port, { call, data }, { seconds: 1, concurrency: conc });
c0 = cpuMicros(server.pid);
r = await ghz(server.port, { call, data }, { seconds: Number(secs), concurrency: conc });
}
if (process.env.HEAPS) { process.kill(server.pid, "SIGUSR2"); await new Promise((r) => setTimeout(r, 2000)); }
const cpu = (cpuMicros(server.pid) - c0) / (r.count + r.errors);
console.log(JSON.stringify({ mode, p50: r.p50Ms, p99: r.p99Ms, p999: r.p999Ms, max: r.maxMs, rps: Math.round(r.rps), n: r.count, cpuUsPerCall: Math.round(cpu), dir }));
if (process.env.METRICS) {
  // The server's own latency histograms (RPC and store), to tell its share of a tail from the client's and the kernel's.
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  console.log(text.split("\n").filter((l) => /^openloop_(rpc_duration_seconds|feature_store_seconds)_(bucket|count)/.test(l) && /Features|get/.test(l) && !/ 0$/.test(l)).join("\n"));
}
await server.stop();
const gc = server.output().split("\n").filter((l) => /Mark-Compact|Scavenge|Mark-sweep|pause=/.test(l));
if (gc.length) { const fs = await import("node:fs"); fs.writeFileSync(path.join(dir, "gc.log"), gc.join("\n")); console.log(`gc lines: ${gc.length}`); }
await redis.stop();
