// Crash safety: SIGKILL the server in the middle of ingestion; after a restart every
// acknowledged sample is either still buffered or trained into a registered version.
// Both backends: the embedded sample log, and Redis.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { featureMap, makeRows } from "./synthetic.js";

const BATCH = 200;
const CLIENTS = 4;
const THRESHOLD = 1000;
const dirs: string[] = [];
const servers: SpawnedServer[] = [];

afterAll(async () => {
  for (const s of servers) s.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.exited));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

// The killed server's training lock (Redis) outlives it until it expires: keep that short.
// Its own key prefix keeps replicas of tests running at the same time out of its models.
const config = { feedback: { lockTtlMs: 2000, redisKeyPrefix: `openloop:feedback:test-${randomUUID().slice(0, 8)}:` } };
const backends = [
  { backend: "embedded", env: {} as Record<string, string> },
  { backend: "Redis", env: { OPENLOOP_REDIS_URL: process.env.OPENLOOP_TEST_REDIS_URL! } },
];

describe.each(backends)("crash safety of the $backend learner", ({ backend, env }) => {
  it("keeps every acknowledged sample across a SIGKILL in the middle of ingestion", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-crash-"));
    dirs.push(dataDir);
    const name = `crash-${randomUUID().slice(0, 8)}`;
    const first = await spawnServer({ dataDir, env, config });
    servers.push(first);
    const client = createClient(FeedbackService, createGrpcTransport({ baseUrl: first.baseUrl }));
    // Every version kept (max_versions 0): the trained samples are summed over all of them.
    await client.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: THRESHOLD, maxVersions: 0 });

    const rows = makeRows("regression", BATCH, 5);
    const batch = rows.map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    let acknowledged = 0;
    let killed = false;
    const loops = Array.from({ length: CLIENTS }, async () => {
      while (!killed) {
        try {
          const res = await client.ingestSampleBatch({ model: name, samples: batch });
          acknowledged += Number(res.accepted); // an answer, even one arriving after the kill, is an acknowledgement
        } catch {
          return; // the connection died with the server: this batch was never acknowledged
        }
      }
    });
    // Kill once a few trainings have had the chance to run, with batches in flight.
    while (acknowledged < 4 * THRESHOLD) await new Promise((r) => setTimeout(r, 5));
    first.kill("SIGKILL");
    killed = true;
    await Promise.all(loops);
    await first.exited;

    const second = await spawnServer({ dataDir, env, config });
    servers.push(second);
    const transport = createGrpcTransport({ baseUrl: second.baseUrl });
    const after = createClient(FeedbackService, transport);
    const registry = createClient(RegistryService, transport);
    const status = await after.getLearnerStatus({ model: name });
    // Nothing acknowledged is lost; at most the batches in flight at the kill were also kept.
    const seen = `${backend}: ${acknowledged} acknowledged; status ${JSON.stringify(status, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`;
    expect(Number(status.samplesSeen), seen).toBeGreaterThanOrEqual(acknowledged);
    expect(Number(status.samplesSeen)).toBeLessThanOrEqual(acknowledged + CLIENTS * BATCH);

    // Trained samples are in registered versions.
    const versions = (await registry.listModelVersions({ name, pageSize: 1000 })).modelVersions.sort((a, b) => Number(a.version) - Number(b.version));
    expect(versions[0]!.version).toBe("1");
    expect(versions.length).toBeGreaterThan(1);
    const inVersions = versions.reduce((n, v) => n + Number(v.lineage!.samplesUsed), 0);
    const trained = Number(status.samplesSeen) - Number(status.bufferedSamples);
    expect(inVersions).toBeGreaterThanOrEqual(trained);
    expect(versions.some((v) => v.version === status.currentVersion)).toBe(true);

    // The restarted learner trains what it replayed, and nothing is counted twice.
    for (;;) {
      const s = await after.getLearnerStatus({ model: name });
      if (!s.training && s.bufferedSamples < BigInt(THRESHOLD)) {
        expect(s.samplesSeen).toBe(status.samplesSeen);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
