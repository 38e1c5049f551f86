// Feedback bench: IngestSamples throughput end to end (a server in a child process, gRPC
// over HTTP/2, 20 numeric features per sample, learning on: trainings register versions
// while samples stream in) versus the learner's in-process rate in the same run (the same
// decoded messages through the same ingestion code, durable log with fsync, training and
// registration, no wire). Then Predict requests/s and latency at concurrency 50.
// Prints one markdown section.
//
//   node --import tsx bench/feedback.ts [--quick]
//   node --import tsx bench/feedback.ts --against <checkout> [rounds]
// The second form compares ingestion only, dense and map form, with a server started from
// another checkout (for example `git worktree add /tmp/base <commit>`, with node_modules
// linked), in alternating rounds, and prints the rates and per-CPU rates of each round,
// with the server's CPU share (its CPU time over the wall-clock time until its learner
// caught up): a share well below 1 means the machine's other work took the server's core.
//   node --import tsx bench/feedback.ts --profile <dir> [dense|map] [messages]
// runs this checkout's server under --cpu-prof for one ingestion of that form.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { Registry as MetricsRegistry } from "prom-client";
import { FeedbackService, IngestSamplesRequestSchema, IngestSamplesResponseSchema, Task, type IngestSamplesRequest, type IngestSamplesResponse } from "../gen/openloop/feedback/v1/feedback_service_pb.js";
import { parseConfig } from "../src/config.js";
import { FsDefinitionStore } from "../src/feedback/definitions.js";
import { FeedbackEngine } from "../src/feedback/engine.js";
import { FsSampleBuffer } from "../src/feedback/fs-buffer.js";
import { SparseVector, vectorize } from "../src/feedback/hashing.js";
import { LinearModel } from "../src/feedback/linear.js";
import { PerformanceTracker } from "../src/feedback/performance.js";
import { MemoryPredictionStore } from "../src/feedback/memory-predictions.js";
import { RegistryVersionStore } from "../src/feedback/versions.js";
import { createRegistryModule } from "../src/registry/module.js";
import { createInProcessTransport } from "../src/platform/rpc/in-process.js";
import { spawnServer } from "../test/support/spawn.js";
import { FEATURES, featureMap, makeRows } from "../test/feedback/synthetic.js";
import { HEALTH_PROTO, startBareGrpcJs } from "./support/bare-grpc-js.js";
import { contractProtoset, ghz, type GhzResult } from "./support/ghz.js";

const QUICK = process.argv.includes("--quick");
const PER_MESSAGE = 1000;
const MESSAGES = QUICK ? 60 : 300;
const MAP_MESSAGES = QUICK ? 20 : 100;
const STREAMS = 2;
const PREDICT_SECONDS = QUICK ? 2 : 5;
const PREDICT_CONCURRENCY = 50;
const PREDICT_ROUNDS = QUICK ? 1 : 3;

type Form = "dense" | "map";

/** CPU seconds (user + system) a process has used, from /proc (Linux; clock ticks of 1/100 s). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function messages(model: string, form: Form, count: number): IngestSamplesRequest[] {
  // 20 distinct message bodies, reused: realistic values without generating 300k rows.
  const bodies = Array.from({ length: 20 }, (_, k) => {
    const rows = makeRows("regression", PER_MESSAGE, 100 + k);
    return form === "map"
      ? create(IngestSamplesRequestSchema, {
          model,
          samples: rows.map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } })),
        })
      : create(IngestSamplesRequestSchema, {
          model,
          dense: [{ featureNames: Array.from({ length: FEATURES }, (_, j) => `f${j}`), values: rows.flatMap((r) => r.x), targets: rows.map((r) => r.y) }],
        });
  });
  return Array.from({ length: count }, (_, i) => bodies[i % bodies.length]!);
}

async function* streamOf(msgs: IngestSamplesRequest[]) {
  for (const m of msgs) yield m;
}

/**
 * One IngestSamples stream of messages already in protobuf binary, on a plain grpc-js client:
 * encoding maps with protobuf-es (about 70k samples/s) would measure this process, not the server.
 */
function ingestEncoded(client: grpc.Client, msgs: readonly Uint8Array[]): Promise<IngestSamplesResponse> {
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(
      "/openloop.feedback.v1.FeedbackService/IngestSamples",
      (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      (b: Buffer) => fromBinary(IngestSamplesResponseSchema, b),
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
    let i = 0;
    const write = () => {
      while (i < msgs.length) if (!call.write(msgs[i++])) return void call.once("drain", write);
      call.end();
    };
    write();
  });
}

/**
 * End to end: STREAMS concurrent IngestSamples streams of `count` messages in all. Dense
 * messages go through connect-node (encoding them is cheap); map-form ones are encoded
 * once up front and sent as bytes through grpc-js.
 */
async function ingestOverGrpc(baseUrl: string, pid: number, model: string, form: Form, count: number): Promise<{ rate: number; samples: number; versions: string; cpu: number; share: number }> {
  const sessionManager = new Http2SessionManager(baseUrl);
  const client = createClient(FeedbackService, createGrpcTransport({ baseUrl, sessionManager }));
  const raw = new grpc.Client(new URL(baseUrl).host, grpc.credentials.createInsecure());
  try {
    await client.createOnlineModel({ name: model, task: Task.REGRESSION });
    const all = messages(model, form, count);
    const encoded = new Map(all.map((m) => [m, toBinary(IngestSamplesRequestSchema, m)]));
    const send = (msgs: IngestSamplesRequest[]) => (form === "map" ? ingestEncoded(raw, msgs.map((m) => encoded.get(m)!)) : client.ingestSamples(streamOf(msgs)));
    const warm = await send(all.slice(0, 5));
    if (warm.accepted !== BigInt(5 * PER_MESSAGE)) throw new Error("warm-up ingestion failed");
    const per = Math.floor(all.length / STREAMS);
    const t0 = performance.now();
    const cpu0 = processCpuSeconds(pid);
    const results = await Promise.all(Array.from({ length: STREAMS }, (_, s) => send(all.slice(s * per, (s + 1) * per))));
    const seconds = (performance.now() - t0) / 1000;
    const samples = results.reduce((n, r) => n + Number(r.accepted), 0);
    if (samples !== per * STREAMS * PER_MESSAGE) throw new Error(`expected every sample accepted, got ${samples}`);
    for (;;) {
      const s = await client.getLearnerStatus({ model });
      if (!s.training && s.bufferedSamples < 100n) {
        // The server's CPU time over the wall-clock time until its learner caught up: near 1
        // (or above, with its GC and I/O threads) when the machine left it a core.
        const cpu = processCpuSeconds(pid) - cpu0;
        return { rate: samples / seconds, samples, versions: s.currentVersion, cpu, share: cpu / ((performance.now() - t0) / 1000) };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    sessionManager.abort();
    raw.close();
  }
}

/** The same ingestion code in this process, on decoded messages: no protobuf, no HTTP/2. */
async function ingestInProcess(count: number): Promise<{ rate: number; samples: number; cpu: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-bench-feedback-"));
  const log = pino({ level: "silent" });
  const config = parseConfig({ dataDir: dir, log: { level: "silent" } });
  const metrics = new MetricsRegistry();
  const registry = await createRegistryModule(config, { log, metrics });
  const defs = new FsDefinitionStore(path.join(dir, "feedback", "models"));
  const fc = config.feedback;
  const engine = new FeedbackEngine({
    definitions: defs,
    openBuffer: (def) => FsSampleBuffer.open(defs.modelDir(def.name), fc.segmentBytes, log),
    predictions: new MemoryPredictionStore(fc.predictionTtlMs, fc.maxPredictions),
    versions: new RegistryVersionStore(createInProcessTransport(registry.services)),
    performance: new PerformanceTracker(fc.performanceWindow, fc.performanceVersions, metrics),
    processFeatures: async (_s, f) => f,
    checkFeatureSet: async () => {},
    log,
    configured: [],
    learner: {
      log,
      options: { maxBufferedSamples: fc.maxBufferedSamples, maxTrainingSamples: fc.maxTrainingSamples, retryDelayMs: fc.retryDelayMs, lockTtlMs: fc.lockTtlMs },
    },
  });
  try {
    await engine.createModel({ name: "bench", task: "regression" });
    const all = messages("bench", "dense", count);
    const per = Math.floor(all.length / STREAMS);
    const t0 = performance.now();
    const cpu0 = ownCpuSeconds();
    const counts = await Promise.all(
      Array.from({ length: STREAMS }, async (_, s) => {
        const ingestion = engine.ingestion();
        for (const m of all.slice(s * per, (s + 1) * per)) await ingestion.add(m.model, m.samples, m.dense);
        await ingestion.finish();
        return ingestion.accepted;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const samples = counts.reduce((a, b) => a + b, 0);
    for (;;) {
      const st = await engine.status("bench");
      if (!st.training && st.buffered < 100) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { rate: samples / seconds, samples, cpu: ownCpuSeconds() - cpu0 };
  } finally {
    await engine.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pure SGD steps on pre-hashed vectors: the ceiling of the arithmetic alone. */
function sgdOnly(): number {
  const rows = makeRows("regression", 20_000, 7);
  const v = new SparseVector();
  const vecs = rows.map((r) => {
    vectorize(featureMap(r.x), 1 << 18, v);
    return { idx: v.idx.slice(0, v.nnz), val: v.val.slice(0, v.nnz), y: r.y };
  });
  const m = new LinearModel("regression", { learningRate: 0.1, l2: 1e-4, buckets: 1 << 18, optimizer: "adagrad", epochs: 1 });
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 1000) {
    for (const s of vecs) m.update(s.idx, s.val, s.idx.length, s.y);
    n += vecs.length;
  }
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Predict with ghz (a Go client, so the client does not share the server's Node process),
 * at concurrency 50 and 1, alternating with the bare grpc-js server's empty call (Health/Check).
 */
async function predictLoad(port: number, pid: number): Promise<{ predict: GhzResult; bare: GhzResult; sequential: GhzResult; ratios: number[] }> {
  const protoset = await contractProtoset();
  const features = featureMap(makeRows("regression", 1, 9)[0]!.x);
  const data = JSON.stringify({ model: "bench", features: Object.fromEntries(Object.entries(features).map(([k, v]) => [k, { doubleValue: v.kind.value }])) });
  const predict = { call: "openloop.feedback.v1.FeedbackService/Predict", data, protoset };
  const empty = { call: "grpc.health.v1.Health/Check", data: "{}", proto: HEALTH_PROTO };
  const bare = await startBareGrpcJs();
  try {
    await ghz(port, predict, { seconds: 1, concurrency: PREDICT_CONCURRENCY });
    await ghz(bare.port, empty, { seconds: 1, concurrency: PREDICT_CONCURRENCY });
    const rounds: { predict: GhzResult; bare: GhzResult }[] = [];
    for (let r = 0; r < PREDICT_ROUNDS; r++) {
      rounds.push({
        predict: await ghz(port, predict, { seconds: PREDICT_SECONDS, concurrency: PREDICT_CONCURRENCY, pid }),
        bare: await ghz(bare.port, empty, { seconds: PREDICT_SECONDS, concurrency: PREDICT_CONCURRENCY, pid: bare.pid }),
      });
    }
    const sequential = await ghz(port, predict, { seconds: PREDICT_SECONDS, concurrency: 1, pid });
    const ratios = rounds.map((r) => r.predict.rps / r.bare.rps);
    const mid = rounds.map((r, i) => ({ r, ratio: ratios[i]! })).sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]!.r;
    return { predict: mid.predict, bare: mid.bare, sequential, ratios };
  } finally {
    bare.stop();
  }
}

async function main() {
  const server = await spawnServer({ config: { log: { level: "warn" } } });
  try {
    const load = os.loadavg()[0]!;
    const e2e = await ingestOverGrpc(server.baseUrl, server.pid, "bench", "dense", MESSAGES);
    const local = await ingestInProcess(MESSAGES);
    const maps = await ingestOverGrpc(server.baseUrl, server.pid, "bench-maps", "map", MAP_MESSAGES);
    const sgd = sgdOnly();
    const p = await predictLoad(server.port, server.pid);
    const ratio = e2e.rate / local.rate;
    const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const out: string[] = [];
    out.push("## Feedback (online learner)");
    out.push("");
    out.push(`\`node --import tsx bench/feedback.ts${QUICK ? " --quick" : ""}\``);
    out.push("");
    out.push(
      `Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}, shared with other work (1-minute load average ${load.toFixed(1)} at the start: treat numbers as noisy). ` +
        `The server runs in a child process with the embedded backend (append-only sample log, one fsync per batch); the client is connect-node over gRPC/HTTP/2 on one connection, in the bench process. ` +
        `Samples have 20 numeric features; ${STREAMS} concurrent IngestSamples streams send ${fmt(MESSAGES * PER_MESSAGE)} samples in messages of ${PER_MESSAGE}, as DenseSamples (feature names once per message, values packed). ` +
        `The map form sends the same kind of rows as map<string, FeatureValue> samples (${fmt(MAP_MESSAGES * PER_MESSAGE)}), encoded once before the clock starts and written as bytes through a plain @grpc/grpc-js client: encoding maps with protobuf-es runs at about 70k samples/s and would measure this process instead of the server. ` +
        `Learning is on (update threshold 100): the learner trains and registers versions while samples stream in (version ${e2e.versions} was serving at the end). ` +
        `The in-process baseline runs the same ingestion code on the same decoded messages (hashing, encoding, durable log with fsync, training, registration in an in-process registry) without protobuf or HTTP/2.`,
    );
    out.push("");
    const perCpu = (n: number, cpu: number) => (cpu > 0 ? fmt(n / cpu) : "n/a");
    out.push("Throughput is wall-clock; \"per CPU-second\" divides by the CPU time the serving process actually got (from /proc), which a busy machine distorts much less.");
    out.push("");
    out.push("| Measure | Wall-clock | Per CPU-second of the server |");
    out.push("|---|---|---|");
    out.push(`| IngestSamples end to end (DenseSamples) | ${fmt(e2e.rate)} samples/s | ${perCpu(e2e.samples, e2e.cpu)} samples |`);
    out.push(`| Learner in process (baseline) | ${fmt(local.rate)} samples/s | ${perCpu(local.samples, local.cpu)} samples |`);
    out.push(`| End to end / in process | ${(ratio * 100).toFixed(0)}% | ${e2e.cpu > 0 && local.cpu > 0 ? (((e2e.samples / e2e.cpu) / (local.samples / local.cpu)) * 100).toFixed(0) + "%" : "n/a"} |`);
    out.push(`| IngestSamples end to end, samples as map<string, FeatureValue> (${fmt(maps.samples)} samples) | ${fmt(maps.rate)} samples/s | ${perCpu(maps.samples, maps.cpu)} samples |`);
    out.push(`| SGD steps alone (AdaGrad, pre-hashed, for reference) | ${fmt(sgd)} samples/s | |`);
    out.push("");
    out.push(
      `Predict: ghz (Go) on one HTTP/2 connection, ${PREDICT_ROUNDS} rounds of ${PREDICT_SECONDS} s alternating with a bare @grpc/grpc-js server answering an empty Health/Check (the floor of a gRPC call in Node); the round with the median ratio is shown.`,
    );
    out.push("");
    out.push("| Call | Requests/s | p50 ms | p99 ms | Server CPU µs/call |");
    out.push("|---|---:|---:|---:|---:|");
    const row = (label: string, r: GhzResult) => `| ${label} | ${fmt(r.rps)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${fmt(r.cpuUsPerCall)} |`;
    out.push(row(`Predict (9 features), concurrency ${PREDICT_CONCURRENCY}`, p.predict));
    out.push(row(`bare grpc-js empty call, concurrency ${PREDICT_CONCURRENCY}`, p.bare));
    out.push(row("Predict, concurrency 1", p.sequential));
    const predictRatio = [...p.ratios].sort((a, b) => a - b)[Math.floor(p.ratios.length / 2)]!;
    out.push("");
    out.push("| Target | Measured | Met |");
    out.push("|---|---|---|");
    out.push(`| IngestSamples >= 100,000 samples/s | ${fmt(e2e.rate)} | ${e2e.rate >= 100_000 ? "yes" : "no"} |`);
    out.push(`| End to end >= 50% of in process | ${(ratio * 100).toFixed(0)}% | ${ratio >= 0.5 ? "yes" : "no"} |`);
    out.push(`| Predict throughput at concurrency ${PREDICT_CONCURRENCY} >= 50% of a bare grpc-js empty call | ${(predictRatio * 100).toFixed(0)}% (rounds: ${p.ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(", ")}) | ${predictRatio >= 0.5 ? "yes" : "no"} |`);
    out.push(`| Predict p99 < 1 ms at concurrency 1 | ${p.sequential.p99Ms.toFixed(2)} ms | ${p.sequential.p99Ms < 1 ? "yes" : "no"} |`);
    console.log(out.join("\n"));
  } finally {
    await server.stop();
  }
}

/** Ingestion of this checkout's server against another's, in alternating rounds. */
async function against(dir: string, rounds: number): Promise<void> {
  const rows: string[] = [
    "| Round | Server | Load (1 min) | Dense, samples/s | Dense, per CPU-second | Dense, server CPU share | Map form, samples/s | Map form, per CPU-second | Map form, server CPU share |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 === 0 ? ["other", "this"] : ["this", "other"]) {
      const cwd = which === "other" ? path.resolve(dir) : process.cwd();
      const server = await spawnServer({ config: { log: { level: "warn" } }, command: { args: ["--import", "tsx", "src/main.ts"], cwd } });
      try {
        const d = await ingestOverGrpc(server.baseUrl, server.pid, "bench", "dense", MESSAGES);
        const m = await ingestOverGrpc(server.baseUrl, server.pid, "bench-maps", "map", MAP_MESSAGES);
        const load = os.loadavg()[0]!.toFixed(1);
        rows.push(
          `| ${r + 1} | ${which === "other" ? dir : "this checkout"} | ${load} | ${fmt(d.rate)} | ${fmt(d.samples / d.cpu)} | ${d.share.toFixed(2)} | ${fmt(m.rate)} | ${fmt(m.samples / m.cpu)} | ${m.share.toFixed(2)} |`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  console.log(rows.join("\n"));
}

/**
 * This checkout's server under `node --cpu-prof` (the profile lands in `dir` when it
 * exits), ingesting `messages` messages of the given form, after the usual warm-up.
 */
async function profile(dir: string, form: Form, messages: number): Promise<void> {
  const args = ["--cpu-prof", `--cpu-prof-dir=${path.resolve(dir)}`, "--import", "tsx", "src/main.ts"];
  const server = await spawnServer({ config: { log: { level: "warn" } }, command: { args, cwd: process.cwd() } });
  try {
    const r = await ingestOverGrpc(server.baseUrl, server.pid, "bench", form, messages);
    const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
    console.log(`${form}: ${fmt(r.rate)} samples/s, ${fmt(r.samples / r.cpu)} per CPU-second of the server (profiled)`);
  } finally {
    await server.stop();
  }
}

const at = process.argv.indexOf("--against");
const prof = process.argv.indexOf("--profile");
await (prof > 0
  ? profile(process.argv[prof + 1]!, (process.argv[prof + 2] ?? "map") as Form, Number(process.argv[prof + 3] ?? MAP_MESSAGES))
  : at > 0
    ? against(process.argv[at + 1]!, Number(process.argv[at + 2] ?? 3))
    : main());
