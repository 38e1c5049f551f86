// Feature store bench: GetFeatures and BatchGetFeatures through the service (gRPC over
// HTTP/2 to a server in a child process, Redis behind it) versus raw ioredis GET/MGET of
// the same stored bytes, in the same run, against a redis-server of the bench's own.
// Prints one markdown section.
//
//   node --import tsx bench/feature.ts [--seconds 4]
import os from "node:os";
import { performance } from "node:perf_hooks";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { FeatureService } from "../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../gen/openloop/feature/v1/feature_value_pb.js";
import { startRedis } from "../test/support/redis.js";
import { spawnServer } from "../test/support/spawn.js";
import { createGrpcJsTransport } from "../test/support/grpc-js-transport.js";
import { FEAST_INSTALL_HINT, FEAST_VERSION, feastInstalled, startFeast } from "./support/feast.js";
import { ghz as runGhz } from "./support/ghz.js";
import { runGoFeatureClient } from "./support/go-feature-client.js";
import { runtimeEnv } from "../test/support/runtime-env.js";
import { cpuMicros, median } from "./support/proc.js";

const argSeconds = process.argv.indexOf("--seconds");
const SECONDS = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 4;
const ENTITIES = 10_000;
const BATCH = 100;
const PREFIX = "bench:feature:";

interface Result {
  readonly p50: number;
  readonly p99: number;
  readonly rps: number;
  readonly n: number;
  /** Calls made, warm-up included. */
  readonly calls: number;
}

/** Runs `call` from `concurrency` loops for SECONDS; latencies in ms. */
async function measure(concurrency: number, call: (i: number) => Promise<unknown>, seconds = SECONDS): Promise<Result> {
  // Warm-up: JIT, connections, caches.
  const warmEnd = performance.now() + 500;
  let warm = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < warmEnd; i += concurrency, warm++) await call(i);
    }),
  );
  const lat: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < end; i += concurrency) {
        const t0 = performance.now();
        await call(i);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { p50: q(0.5), p99: q(0.99), rps: lat.length / elapsed, n: lat.length, calls: warm + lat.length };
}

/**
 * The same calls from ghz, a Go gRPC load generator: a client that costs far less CPU
 * per call than connect-node, so its numbers show more of the server and less of the client.
 * No proto is given: ghz's parser predates proto3 `optional`, so it reads the contract from server reflection.
 */
async function ghz(port: number, method: string, data: string, concurrency: number, seconds = SECONDS): Promise<Result> {
  const call = method.includes("/") ? method : `openloop.feature.v1.FeatureService/${method}`;
  const r = await runGhz(port, { call, data }, { seconds, concurrency });
  const calls = r.count + r.errors;
  if (r.errors > calls / 1000) throw new Error(`ghz: ${r.errors} of ${calls} calls failed: ${r.errorKinds.join("; ")}`);
  return { p50: r.p50Ms, p99: r.p99Ms, rps: r.rps, n: r.count, calls };
}

/** The same calls from the repository's Go client (generated types, no reflection), timed by itself. */
async function goClient(port: number, method: "get" | "batch" | "health", seconds = SECONDS, gogc?: string): Promise<Result> {
  const r = await runGoFeatureClient(port, method, { seconds, entities: ENTITIES, batch: BATCH, gogc });
  if (r.errors > 0) throw new Error(`Go client: ${r.errors} calls failed: ${r.firstError}`);
  // Its warm-up (0.5 s) is not counted in `count`: estimate those calls at the measured rate.
  return { p50: r.p50Ms, p99: r.p99Ms, rps: r.rps, n: r.count, calls: Math.round(r.count * (1 + 0.5 / seconds)) };
}

/** CPU time (user + system) a process has used, in ms. */
const cpuMs = (pid: number): number => cpuMicros(pid) / 1000;

const ms = (x: number) => `${x.toFixed(3)} ms`;
const rate = (x: number) => `${Math.round(x).toLocaleString("en-US")}`;

async function main() {
  const loadAtStart = os.loadavg()[0];
  const redis = await startRedis();
  const redisUrl = redis.url;
  let server: Awaited<ReturnType<typeof spawnServer>>;
  try {
    server = await spawnServer({
      // Production's process settings (V8's young generation capped, malloc's mmap threshold fixed).
      env: runtimeEnv(),
      config: {
        llm: { providers: {}, models: [] },
        feedback: {},
        pipeline: {},
        registry: {},
        // A long command timeout: loading 10,000 entities on a busy machine must not trip it.
        feature: { store: "redis", redis: { url: redisUrl, keyPrefix: PREFIX, commandTimeoutMs: 10_000 } },
      },
    });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  const sessionManager = new Http2SessionManager(server.baseUrl);
  const client = createClient(FeatureService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager }));
  const connectSessions = new Http2SessionManager(server.baseUrl);
  const connectClient = createClient(FeatureService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager: connectSessions }));
  const raw = new Redis(redisUrl);
  const grpcJsTransport = createGrpcJsTransport(`127.0.0.1:${server.port}`);
  const grpcJsClient = createClient(FeatureService, grpcJsTransport);
  try {
    // A typical entity: 12 features, scalars of each type and two lists.
    await client.createFeatureSet({
      featureSet: {
        name: "bench",
        defaultTtl: { seconds: 0n },
        features: [
          ...Array.from({ length: 6 }, (_, i) => ({ name: `d${i}`, type: FeatureType.DOUBLE })),
          { name: "i0", type: FeatureType.INT64 },
          { name: "i1", type: FeatureType.INT64 },
          { name: "country", type: FeatureType.STRING },
          { name: "active", type: FeatureType.BOOL },
          { name: "embedding", type: FeatureType.DOUBLE_LIST },
          { name: "tags", type: FeatureType.STRING_LIST },
        ],
      },
    });
    const keys = Array.from({ length: ENTITIES }, (_, i) => `user-${i}`);
    for (let i = 0; i < ENTITIES; i += 100) {
      await Promise.all(
        keys.slice(i, i + 100).map((entityKey, j) =>
          client.putFeatures({
            featureSet: "bench",
            entityKey,
            features: {
              ...Object.fromEntries(Array.from({ length: 6 }, (_, d) => [`d${d}`, { kind: { case: "doubleValue", value: Math.random() * 100 } }])),
              i0: { kind: { case: "int64Value", value: BigInt(i + j) } },
              i1: { kind: { case: "int64Value", value: 42n } },
              country: { kind: { case: "stringValue", value: "fr" } },
              active: { kind: { case: "boolValue", value: true } },
              embedding: { kind: { case: "doubleList", value: { values: Array.from({ length: 16 }, () => Math.random()) } } },
              tags: { kind: { case: "stringList", value: { values: ["a", "bb", "ccc"] } } },
            },
          }),
        ),
      );
    }
    // The baseline reads the very keys the service wrote (same bytes, same slot tag).
    const storedKeys = (await raw.keys(`${PREFIX}{bench}:*`)).sort();
    if (storedKeys.length !== ENTITIES) throw new Error(`expected ${ENTITIES} stored keys, found ${storedKeys.length}`);
    const valueBytes = (await raw.getBuffer(storedKeys[0]))!.length;
    const generation = storedKeys[0].slice(`${PREFIX}{bench}:`.length).split(":")[0];
    const rawKeys = keys.map((k) => `${PREFIX}{bench}:${generation}:${k}`);
    if ((await raw.exists(...rawKeys.slice(0, 100))) !== 100) throw new Error("baseline keys do not match the service's keys");

    const pick = (i: number) => (i * 7919) % ENTITIES;
    const serviceGet = (i: number) => client.getFeatures({ featureSet: "bench", entityKey: keys[pick(i)] });
    const connectGet = (i: number) => connectClient.getFeatures({ featureSet: "bench", entityKey: keys[pick(i)] });
    const rawGet = (i: number) => raw.getBuffer(rawKeys[pick(i)]);
    const batchKeys = (i: number) => Array.from({ length: BATCH }, (_, j) => pick(i * BATCH + j));
    const serviceBatch = (i: number) => client.batchGetFeatures({ featureSet: "bench", entityKeys: batchKeys(i).map((k) => keys[k]) });
    const rawBatch = (i: number) => raw.mgetBuffer(...batchKeys(i).map((k) => rawKeys[k]));
    const grpcJsGet = (i: number) => grpcJsClient.getFeatures({ featureSet: "bench", entityKey: keys[pick(i)] });
    const grpcJsBatch = (i: number) => grpcJsClient.batchGetFeatures({ featureSet: "bench", entityKeys: batchKeys(i).map((k) => keys[k]) });

    const check = await client.getFeatures({ featureSet: "bench", entityKey: keys[1] });
    if (Object.keys(check.features).length !== 12) throw new Error("service returned an incomplete entity");

    const rows: { what: string; svc: Result; base: Result; serverCpu: number }[] = [];
    const row = async (what: string, concurrency: number, svcCall: ((i: number) => Promise<unknown>) | (() => Promise<Result>), baseCall: (i: number) => Promise<unknown>) => {
      const cpu0 = cpuMs(server.pid);
      const svc = svcCall.length === 0 ? await (svcCall as () => Promise<Result>)() : await measure(concurrency, svcCall);
      const serverCpu = (cpuMs(server.pid) - cpu0) / svc.calls;
      rows.push({ what, svc, base: await measure(concurrency, baseCall), serverCpu });
    };
    const ghzBatch = JSON.stringify({ featureSet: "bench", entityKeys: batchKeys(0).map((k) => keys[k]) });
    const ghzGet = JSON.stringify({ featureSet: "bench", entityKey: "user-{{randomInt 0 9999}}" });
    await ghz(server.port, "GetFeatures", ghzGet, 1, 1);
    await row("GetFeatures (gRPC), concurrency 1", 1, serviceGet, rawGet);
    await row("GetFeatures (gRPC), concurrency 50", 50, serviceGet, rawGet);
    await row("GetFeatures (Connect binary, HTTP/2), concurrency 1", 1, connectGet, rawGet);
    await row(`BatchGetFeatures ${BATCH} keys (gRPC), concurrency 1`, 1, serviceBatch, rawBatch);
    await row("GetFeatures (ghz, gRPC), concurrency 1", 1, () => ghz(server.port, "GetFeatures", ghzGet, 1), rawGet);
    await row("GetFeatures (ghz, gRPC), concurrency 50", 50, () => ghz(server.port, "GetFeatures", ghzGet, 50), rawGet);
    await row(`BatchGetFeatures ${BATCH} keys (ghz, gRPC), concurrency 1`, 1, () => ghz(server.port, "BatchGetFeatures", ghzBatch, 1), rawBatch);
    await row("GetFeatures (grpc-js client), concurrency 1", 1, grpcJsGet, rawGet);
    await row(`BatchGetFeatures ${BATCH} keys (grpc-js client), concurrency 1`, 1, grpcJsBatch, rawBatch);
    await row("GetFeatures (Go client), concurrency 1", 1, () => goClient(server.port, "get"), rawGet);
    await row(`BatchGetFeatures ${BATCH} keys (Go client), concurrency 1`, 1, () => goClient(server.port, "batch"), rawBatch);
    await row(`BatchGetFeatures ${BATCH} keys (Go client with its collector on, GOGC=100), concurrency 1`, 1, () => goClient(server.port, "batch", SECONDS, "100"), rawBatch);

    const [get1, , , batch, ghzGet1, , ghzBatch1, grpcJsGet1, grpcJsBatch1, goGet1, goBatch1, goBatchGc] = rows;
    // The floor of this server and client: the cheapest RPC there is, on the same stack.
    const healthCpu0 = cpuMs(server.pid);
    const health = await ghz(server.port, "grpc.health.v1.Health/Check", JSON.stringify({ service: "" }), 1);
    const healthCpu = (cpuMs(server.pid) - healthCpu0) / health.calls;
    const goHealthCpu0 = cpuMs(server.pid);
    const goHealth = await goClient(server.port, "health");
    const goHealthCpu = (cpuMs(server.pid) - goHealthCpu0) / goHealth.calls;
    const yes = (ok: boolean) => (ok ? "yes" : "no");
    const targets = [get1, ghzGet1, grpcJsGet1, goGet1].map((g, i) => {
      const b = [batch, ghzBatch1, grpcJsBatch1, goBatch1][i];
      const added = g.svc.p50 - g.base.p50;
      return [
        { value: ms(g.svc.p99), met: yes(g.svc.p99 < 1) },
        { value: ms(added), met: yes(added < 0.25) },
        { value: ms(b.svc.p99), met: yes(b.svc.p99 < 3) },
      ];
    });
    const targetNames = ["GetFeatures p99 < 1 ms at concurrency 1", "added p50 over raw ioredis < 0.25 ms", `BatchGetFeatures ${BATCH} keys p99 < 3 ms`];

    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    const out: string[] = [];
    out.push("## Feature store (FeatureService on Redis)");
    out.push("");
    out.push("`node --import tsx bench/feature.ts`");
    out.push("");
    out.push(
      `Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}, Redis ${(await raw.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?"} on loopback; 1-minute load average ${loadAtStart.toFixed(1)} at start (other work shares the machine: p99 and throughput suffer first). ` +
        `The server runs in a child process; the clients are connect-node and grpc-js (in the bench process), ghz (a Go gRPC load generator) and the repository's Go client (bench/go/featureclient: clients/go's generated types, no reflection, one goroutine timing each call, its garbage collector held off until 1 GiB: with a nearly empty heap Go collects every ~20 batches, which the row with GOGC=100 shows), each over one HTTP/2 connection. The server runs with production's process settings (deploy/runtime.env). ` +
        `Baseline: raw ioredis GET/MGET (one connection) of the very keys the service wrote (${ENTITIES.toLocaleString("en-US")} entities of 12 features, ${valueBytes} bytes each). ` +
        `ghz decodes responses through dynamic (reflection) messages, slow for 100-entity batches, and the Node clients share the bench process (and its garbage collector) with the raw ioredis baseline: for BatchGetFeatures the Go client row is the better figure. ` +
        `Each row runs ${SECONDS} s after a 0.5 s warm-up. Server CPU per call is the server process's user+system time over the calls, a figure the machine's other load disturbs less than latency.`,
    );
    out.push("");
    out.push("| Operation | Service p50 | Service p99 | Service req/s | Server CPU per call | Raw ioredis p50 | Raw ioredis p99 | Raw ioredis req/s | Service / raw p50 |");
    out.push("|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
      out.push(
        `| ${r.what} | ${ms(r.svc.p50)} | ${ms(r.svc.p99)} | ${rate(r.svc.rps)} | ${ms(r.serverCpu)} | ${ms(r.base.p50)} | ${ms(r.base.p99)} | ${rate(r.base.rps)} | ${(r.svc.p50 / r.base.p50).toFixed(2)}× |`,
      );
    }
    out.push("");
    out.push(
      `Floor of the same server and ghz: \`grpc.health.v1.Health/Check\` at concurrency 1 answers in ${ms(health.p50)} p50, ${ms(health.p99)} p99, with ${ms(healthCpu)} of server CPU per call; GetFeatures adds ${ms(ghzGet1.svc.p50 - health.p50)} p50 and ${ms(ghzGet1.serverCpu - healthCpu)} of server CPU to that. ` +
        `From the Go client, Health/Check answers in ${ms(goHealth.p50)} p50, ${ms(goHealth.p99)} p99 (${ms(goHealthCpu)} of server CPU per call), GetFeatures adds ${ms(goGet1.svc.p50 - goHealth.p50)} p50 and ${ms(goGet1.serverCpu - goHealthCpu)} of server CPU.`,
    );
    out.push("");
    out.push("| Target | connect-node client | Met | ghz client | Met | grpc-js client | Met | Go client | Met |");
    out.push("|---|---|---|---|---|---|---|---|---|");
    targetNames.forEach((name, i) => out.push(`| ${name} | ${targets.map((t) => `${t[i].value} | ${t[i].met}`).join(" | ")} |`));
    out.push("");
    out.push(`With the Go client's own collector on (GOGC=100), BatchGetFeatures p99 is ${ms(goBatchGc.svc.p99)} (p50 ${ms(goBatchGc.svc.p50)}, server CPU per call ${ms(goBatchGc.serverCpu)}).`);
    out.push("");
    out.push(...(await feastSection(redisUrl, (i) => grpcJsGet(i), (i) => grpcJsBatch(i), server.pid, keys, batchKeys)));
    console.log(out.join("\n"));
  } finally {
    raw.disconnect();
    grpcJsTransport.close();
    sessionManager.abort();
    connectSessions.abort();
    await server.stop();
    await redis.stop();
  }
}

/**
 * openloop against Feast on the same Redis and the same entities, in alternating rounds:
 * one entity at concurrency 1 (latency), and 100 entities (server CPU per call).
 */
async function feastSection(
  redisUrl: string,
  openloopGet: (i: number) => Promise<unknown>,
  openloopBatch: (i: number) => Promise<unknown>,
  pid: number,
  keys: readonly string[],
  batchKeys: (i: number) => number[],
): Promise<string[]> {
  const head = `### Against Feast ${FEAST_VERSION} (\`feast serve\`, Redis online store)`;
  if (!feastInstalled()) return [head, "", `skipped: Feast is not installed (${FEAST_INSTALL_HINT})`];
  const feast = await startFeast(new URL(redisUrl).host, ENTITIES);
  try {
    const pick = (i: number) => keys[(i * 7919) % ENTITIES];
    const rounds: { openloop: Result; feast: Result; openloopCpu: number; feastCpu: number; openloopBatchCpu: number; feastBatchCpu: number }[] = [];
    const cpuOf = async (cpu: () => number, fn: () => Promise<Result>) => {
      const c0 = cpu();
      const r = await fn();
      return { r, cpuMs: (cpu() - c0) / r.calls };
    };
    const feastCpu = () => feast.cpuMicros() / 1000;
    const serverCpu = () => cpuMs(pid);
    for (let round = 0; round < 3; round++) {
      const o = await cpuOf(serverCpu, () => measure(1, openloopGet, SECONDS / 2));
      const f = await cpuOf(feastCpu, () => measure(1, (i) => feast.get([pick(i)]), SECONDS / 2));
      const ob = await cpuOf(serverCpu, () => measure(1, openloopBatch, SECONDS / 2));
      const fb = await cpuOf(feastCpu, () => measure(1, (i) => feast.get(batchKeys(i).map((k) => keys[k])), SECONDS / 2));
      rounds.push({ openloop: o.r, feast: f.r, openloopCpu: o.cpuMs, feastCpu: f.cpuMs, openloopBatchCpu: ob.cpuMs, feastBatchCpu: fb.cpuMs });
    }
    const range = (xs: number[]) => `${ms(Math.min(...xs))}–${ms(Math.max(...xs))}`;
    return [
      head,
      "",
      `The same ${ENTITIES.toLocaleString("en-US")} entities of 12 features, loaded into the same Redis through Feast's own \`write_to_online_store\`; Feast serves one gunicorn worker (never recycled) and is read over its HTTP JSON API with a keep-alive connection; openloop is read with the grpc-js client. 3 alternating rounds of ${SECONDS / 2} s per system and measure; ranges over the rounds.`,
      "",
      "| Measure | openloop | Feast | Feast / openloop (median) |",
      "|---|---|---|---|",
      `| GetFeatures, 1 entity, concurrency 1: p50 | ${range(rounds.map((r) => r.openloop.p50))} | ${range(rounds.map((r) => r.feast.p50))} | ${median(rounds.map((r) => r.feast.p50 / r.openloop.p50)).toFixed(1)}× |`,
      `| GetFeatures, 1 entity, concurrency 1: p99 | ${range(rounds.map((r) => r.openloop.p99))} | ${range(rounds.map((r) => r.feast.p99))} | ${median(rounds.map((r) => r.feast.p99 / r.openloop.p99)).toFixed(1)}× |`,
      `| GetFeatures, 1 entity: server CPU per call | ${range(rounds.map((r) => r.openloopCpu))} | ${range(rounds.map((r) => r.feastCpu))} | ${median(rounds.map((r) => r.feastCpu / r.openloopCpu)).toFixed(1)}× |`,
      `| ${BATCH} entities: server CPU per call | ${range(rounds.map((r) => r.openloopBatchCpu))} | ${range(rounds.map((r) => r.feastBatchCpu))} | ${median(rounds.map((r) => r.feastBatchCpu / r.openloopBatchCpu)).toFixed(1)}× |`,
    ];
  } finally {
    await feast.stop();
  }
}

await main();
