// Where Predict's server CPU goes: an embedded server, one with redis.url (predictions in Redis,
// as in shared mode) and, with --shared, a `storage: shared` replica, each run with `node --cpu-prof`
// under the same ghz load; prints µs per call by function (self time) and by module, side by side.
// A tool for finding the cost, not a bench of its own (bench/shared-storage.ts measures the ratio).
//
//   flock /tmp/openloop-bench.lock node --import tsx bench/support/profile-predict.ts [--shared] [--seconds N] [--concurrency N]
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startRedis } from "../../test/support/redis.js";
import { spawnServer, type SpawnedServer } from "../../test/support/spawn.js";
import { featureMap, makeRows } from "../../test/feedback/synthetic.js";
import { createRedisClient, redisReady } from "../../src/platform/redis.js";
import { contractProtoset, ghz } from "./ghz.js";

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1];
const SECONDS = process.argv.includes("--seconds") ? Number(arg("--seconds")) : 8;
const SHARED = process.argv.includes("--shared");
const CONCURRENCY = process.argv.includes("--concurrency") ? Number(arg("--concurrency")) : 20;

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in µs per "function (file:line)" and per module, from a .cpuprofile. */
function selfTimes(p: Profile): { fns: Map<string, number>; modules: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const modules = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "").replace(/.*\/predict\//, "");
    const key = `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + dt);
    const mod = !url ? functionName : url.startsWith("node:") ? url : file.startsWith("src/") ? file : file.split("/").slice(0, file.startsWith("@") ? 2 : 1).join("/");
    modules.set(mod, (modules.get(mod) ?? 0) + dt);
  }
  return { fns, modules };
}

async function main() {
  const redis = await startRedis();
  const pg = SHARED ? await (await import("../../test/support/postgres.js")).startPostgres() : undefined;
  const s3 = SHARED ? await (await import("../../test/support/seaweedfs.js")).startSeaweedFs() : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-prof-"));
  const arms: Record<string, Record<string, unknown>> = {
    embedded: { log: { level: "warn" } },
    embeddedRedis: { log: { level: "warn" }, redis: { url: redis.url } },
  };
  if (pg && s3) {
    const url = await pg.createDatabase("prof");
    const bucket = await s3.createBucket("openloop-prof");
    arms.shared = {
      log: { level: "warn" },
      storage: "shared",
      postgres: { url },
      objectStore: { endpoint: s3.endpoint, bucket, region: s3.region, credentials: { ...s3.credentials }, prefix: "openloop/" },
      redis: { url: redis.url },
    };
  }
  const admin = createRedisClient(redis.url, { commandTimeoutMs: 5000, connectTimeoutMs: 5000 });
  await redisReady(admin, 5000);
  // Commands Redis ran, by name: how many predictions went out per write.
  const commandCalls = async () => {
    const info = await admin.info("commandstats");
    return Object.fromEntries([...info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  };
  const protoset = await contractProtoset();
  const features = featureMap(makeRows("regression", 1, 9)[0]!.x);
  const call = {
    call: "openloop.feedback.v1.FeedbackService/Predict",
    data: JSON.stringify({ model: "bench", features: Object.fromEntries(Object.entries(features).map(([k, v]) => [k, { doubleValue: v.kind.value }])) }),
    protoset,
  };
  const results: Record<string, { calls: number; fns: Map<string, number>; modules: Map<string, number> }> = {};
  try {
    for (const [arm, config] of Object.entries(arms)) {
      const profDir = path.join(dir, arm);
      const server: SpawnedServer = await spawnServer({ config, command: { args: ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--import", "tsx", "src/main.ts"], cwd: path.resolve(import.meta.dirname, "../..") } });
      try {
        const sm = new Http2SessionManager(server.baseUrl);
        const fb = createClient(FeedbackService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sm }));
        await fb.createOnlineModel({ name: "bench", task: Task.REGRESSION });
        sm.abort();
        await ghz(server.port, call, { seconds: 2, concurrency: CONCURRENCY });
        await admin.config("RESETSTAT");
        const g = await ghz(server.port, call, { seconds: SECONDS, concurrency: CONCURRENCY, pid: server.pid });
        const c = await commandCalls();
        // A script's SETs count as SET calls too: a script run is the write, when there are any.
        const writes = (c.evalsha ?? 0) + (c.eval ?? 0) || (c.set ?? 0);
        const grouping = writes ? `, Redis: ${JSON.stringify(c)} (${(g.count / writes).toFixed(1)} predictions per write)` : "";
        console.error(`${arm}: ${Math.round(g.cpuUsPerCall)} µs/call (/proc), ${Math.round(g.rps)} req/s, ${g.errors} errors${grouping}`);
        results[arm] = { calls: g.count, fns: new Map(), modules: new Map() };
      } finally {
        await server.stop();
      }
      // The profile covers the whole process life; warm-up and start are a small, equal share for every arm.
      const file = (await readdir(profDir)).find((f) => f.endsWith(".cpuprofile"))!;
      const t = selfTimes(JSON.parse(await readFile(path.join(profDir, file), "utf8")) as Profile);
      Object.assign(results[arm]!, t);
    }
  } finally {
    admin.disconnect();
    await redis.stop();
    await pg?.teardown();
    await s3?.teardown();
  }
  const names = Object.keys(results);
  const table = (pick: "fns" | "modules", top: number) => {
    const keys = new Set<string>();
    for (const r of Object.values(results)) for (const k of r[pick].keys()) keys.add(k);
    const per = (arm: string, k: string) => (results[arm]![pick].get(k) ?? 0) / results[arm]!.calls;
    const rows = [...keys].filter((k) => k !== "(idle)").map((k) => ({ k, v: names.map((a) => per(a, k)) }));
    // Sorted by what the last arm pays beyond the first.
    rows.sort((a, b) => b.v.at(-1)! - b.v[0]! - (a.v.at(-1)! - a.v[0]!));
    console.log(`\n${pick}: µs per call (self time), ${names.join(" / ")}, by extra over ${names[0]}`);
    const total = names.map((a) => rows.reduce((s, r) => s + r.v[names.indexOf(a)]!, 0));
    console.log(`  total (without idle): ${total.map((x) => x.toFixed(1)).join(" / ")}`);
    for (const r of rows.slice(0, top)) console.log(`  ${r.v.map((x) => x.toFixed(1).padStart(6)).join(" ")}  ${r.k}`);
  };
  table("modules", 25);
  table("fns", 45);
}

await main();
