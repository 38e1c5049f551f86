// What recorded predictions cost the server: Predict by ghz (9 features, concurrency 50) until
// the in-process store holds its 200,000 predictions (feedback.maxPredictions), then the
// server's resident memory, then its live V8 heap (prom-client's gauge at /metrics right after a
// heap snapshot, which collects everything first: SIGUSR2 with --heapsnapshot-signal),
// and the server CPU per Predict of each stretch of load (the later ones run with the store full,
// evicting as they record).
//
//   flock /tmp/openloop-bench.lock node --import tsx bench/support/prediction-memory.ts [--compiled]
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { runtimeEnv } from "../../test/support/runtime-env.js";
import { spawnServer } from "../../test/support/spawn.js";
import { featureMap, makeRows } from "../../test/feedback/synthetic.js";
import { contractProtoset, ghz } from "./ghz.js";
import { statusBytes } from "./proc.js";

const TARGET = 200_000;
const compiled = process.argv.includes("--compiled");
const snapshots = await mkdtemp(path.join(os.tmpdir(), "openloop-heap-"));
const flags = ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${snapshots}`];
// --compiled: as production runs it (npm run build first), with deploy/runtime.env's settings.
const server = await spawnServer({
  command: { args: [...flags, ...(compiled ? ["dist/src/main.js"] : ["--import", "tsx", "src/main.ts"])], cwd: process.cwd() },
  env: compiled ? runtimeEnv() : {},
});
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
/** The live heap: a snapshot collects all garbage before it is written. */
async function heapUsed(): Promise<number> {
  const before = (await readdir(snapshots)).length;
  server.kill("SIGUSR2");
  while ((await readdir(snapshots)).length === before) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1000));
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}
try {
  const sessions = new Http2SessionManager(server.baseUrl);
  await createClient(FeedbackService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions })).createOnlineModel({ name: "mem", task: Task.REGRESSION });
  sessions.abort();
  const features = featureMap(makeRows("regression", 1, 9)[0]!.x);
  const data = JSON.stringify({ model: "mem", features: Object.fromEntries(Object.entries(features).map(([k, v]) => [k, { doubleValue: v.kind.value }])) });
  const predict = { call: "openloop.feedback.v1.FeedbackService/Predict", data, protoset: await contractProtoset() };
  await new Promise((r) => setTimeout(r, 5000));
  // No snapshot yet: its own memory would stay resident through the load.
  console.log(`before: RSS ${mb(statusBytes(server.pid, "VmRSS"))} MB`);
  let made = 0;
  const cpu: string[] = [];
  while (made < TARGET * 1.25) {
    const r = await ghz(server.port, predict, { seconds: 5, concurrency: 50, pid: server.pid });
    made += r.count;
    cpu.push(`${r.cpuUsPerCall.toFixed(0)} (${Math.round(r.rps)}/s)`);
  }
  await new Promise((r) => setTimeout(r, 5000));
  // RSS before the snapshot, which adds its own.
  const rss = statusBytes(server.pid, "VmRSS");
  const peak = statusBytes(server.pid, "VmHWM");
  console.log(`after ${made} Predicts: RSS ${mb(rss)} MB (peak ${mb(peak)}), heap used ${mb(await heapUsed())} MB`);
  console.log(`server CPU µs per Predict, by 5 s stretch: ${cpu.join(", ")}`);
} finally {
  await server.stop();
  await rm(snapshots, { recursive: true, force: true });
}
