// Resending is safe: a batch sent again with the same batch_id is acknowledged as
// duplicates without being learned twice, on both backends, and across a SIGKILL between
// the durable write and the acknowledgement.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, SampleSchema, Task, type Sample } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { featureMap, makeRows } from "./synthetic.js";

const REDIS = process.env.OPENLOOP_TEST_REDIS_URL!;
const started: TestServer[] = [];
const spawned: SpawnedServer[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  for (const s of spawned) s.kill("SIGKILL");
  await Promise.all(spawned.map((s) => s.exited));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

// Each run has its own Redis key prefix, so tests running at the same time stay apart.
const prefix = () => `openloop:feedback:test-${randomUUID().slice(0, 8)}:`;
const backends = [
  { backend: "embedded", config: (): Record<string, unknown> & { feedback: Record<string, unknown> } => ({ feedback: { batchIdTtlMs: 600_000 } }) },
  { backend: "Redis", config: (): Record<string, unknown> & { feedback: Record<string, unknown> } => ({ redis: { url: REDIS }, feedback: { batchIdTtlMs: 600_000, redisKeyPrefix: prefix() } }) },
];

function samples(n: number, seed: number): Sample[] {
  return makeRows("regression", n, seed).map((r) => create(SampleSchema, { features: featureMap(r.x), outcome: { kind: { case: "value", value: r.y } } }));
}

describe.each(backends)("batch ids on the $backend backend", ({ config }) => {
  let feedback: Client<typeof FeedbackService>;

  async function model(): Promise<string> {
    if (!feedback) {
      const server = await startTestServer(config());
      started.push(server);
      feedback = createClient(FeedbackService, server.grpc);
    }
    const name = `resend-${randomUUID().slice(0, 8)}`;
    await feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    return name;
  }

  it("acknowledges a resent batch as duplicates without learning it again", async () => {
    const name = await model();
    const req = { model: name, batchId: "batch-1", samples: samples(5, 1) };
    const first = await feedback.ingestSampleBatch(req);
    const again = await feedback.ingestSampleBatch(req);
    expect([first.accepted, first.duplicates]).toEqual([5n, 0n]);
    expect([again.accepted, again.duplicates]).toEqual([0n, 5n]);
    expect((await feedback.getLearnerStatus({ model: name })).samplesSeen).toBe(5n);
  });

  it("acknowledges a resent batch again when the buffer is full, and refuses a new one", async () => {
    const c = config();
    const server = await startTestServer({ ...c, feedback: { ...c.feedback, maxBufferedSamples: 5 } });
    started.push(server);
    const full = createClient(FeedbackService, server.grpc);
    await full.createOnlineModel({ name: "full", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    const req = { model: "full", batchId: "fills-it", samples: samples(5, 9) };
    expect((await full.ingestSampleBatch(req)).accepted).toBe(5n);
    const again = await full.ingestSampleBatch(req);
    expect([again.accepted, again.duplicates]).toEqual([0n, 5n]);
    const fresh = await full.ingestSampleBatch({ ...req, batchId: "new-one" }).catch((err: unknown) => ConnectError.from(err));
    expect(fresh).toBeInstanceOf(ConnectError);
    expect((fresh as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((await full.getLearnerStatus({ model: "full" })).bufferedSamples).toBe(5n);
  });

  it("learns batches with other ids, and batches without one every time", async () => {
    const name = await model();
    await feedback.ingestSampleBatch({ model: name, batchId: "a", samples: samples(2, 2) });
    await feedback.ingestSampleBatch({ model: name, batchId: "b", samples: samples(2, 2) });
    await feedback.ingestSampleBatch({ model: name, samples: samples(2, 2) });
    const last = await feedback.ingestSampleBatch({ model: name, samples: samples(2, 2) });
    expect(last.accepted).toBe(2n);
    expect((await feedback.getLearnerStatus({ model: name })).samplesSeen).toBe(8n);
  });

  it("recognises a resent message of a stream by its batch id", async () => {
    const name = await model();
    async function* messages() {
      yield { model: name, batchId: "m-1", samples: samples(3, 3) };
      yield { model: name, batchId: "m-2", samples: samples(4, 4) };
      yield { model: name, batchId: "m-1", samples: samples(3, 3) };
    }
    const res = await feedback.ingestSamples(messages());
    expect([res.accepted, res.duplicates, res.rejected]).toEqual([7n, 3n, 0n]);
    expect((await feedback.getLearnerStatus({ model: name })).samplesSeen).toBe(7n);
  });

  it("rejects a malformed batch_id with INVALID_ARGUMENT naming the field", async () => {
    const name = await model();
    for (const batchId of ["../x", "a b", "x".repeat(129)]) {
      const err = await feedback.ingestSampleBatch({ model: name, batchId, samples: samples(1, 5) }).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toContain("batch_id");
    }
    expect((await feedback.getLearnerStatus({ model: name })).samplesSeen).toBe(0n);
  });
});

/**
 * The learner's status once no training runs or is due: samples_seen adds buffered and
 * trained counts read one after the other, exact only while no training commits.
 */
async function quiet(client: Client<typeof FeedbackService>, model: string) {
  for (let i = 0; ; i++) {
    const s = await client.getLearnerStatus({ model });
    if (!s.training && s.bufferedSamples < BigInt(s.updateThreshold)) return s;
    if (i > 1200) throw new Error(`the learner of ${model} did not settle: ${s.bufferedSamples} buffered`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const BATCH = 100;
const BATCHES = 60;
const CLIENTS = 4;
const THRESHOLD = 500;

describe.each(backends)("resending to the $backend backend after a crash", ({ backend, config }) => {
  it("learns every sample once when the client resends every batch after a SIGKILL", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-resend-"));
    dirs.push(dataDir);
    // The killed server's training lock (Redis) outlives it until it expires: keep that short.
    const base = config();
    const cfg = { ...base, feedback: { ...base.feedback, lockTtlMs: 2000 } };
    const name = `resend-${randomUUID().slice(0, 8)}`;
    const first = await spawnServer({ dataDir, config: cfg });
    spawned.push(first);
    const client = createClient(FeedbackService, createGrpcTransport({ baseUrl: first.baseUrl }));
    // Trainings run while batches arrive (warm-up), so some batch ids are remembered only
    // after their records were trained and dropped from the buffer.
    await client.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: THRESHOLD });

    const batches = Array.from({ length: BATCHES }, (_, i) => ({ model: name, batchId: `run-1:batch-${i}`, samples: samples(BATCH, 100 + i) }));
    const acknowledged = new Set<string>();
    let next = 0;
    // Kill at a random point: after 10-40 acknowledged batches, and a random bit later.
    const killAfter = 10 + Math.floor(Math.random() * 30);
    const loops = Array.from({ length: CLIENTS }, async () => {
      while (next < BATCHES) {
        const b = batches[next++]!;
        try {
          await client.ingestSampleBatch(b);
          acknowledged.add(b.batchId);
        } catch {
          return; // the connection died with the server: this batch was never acknowledged
        }
      }
    });
    while (acknowledged.size < killAfter) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, Math.random() * 20));
    first.kill("SIGKILL");
    await Promise.all(loops);
    await first.exited;

    const second = await spawnServer({ dataDir, config: cfg });
    spawned.push(second);
    const after = createClient(FeedbackService, createGrpcTransport({ baseUrl: second.baseUrl }));
    const kept = Number((await quiet(after, name)).samplesSeen);
    const context = `${backend}: killed after ${acknowledged.size} acknowledged batches, ${kept} samples kept`;
    expect(kept, context).toBeGreaterThanOrEqual(acknowledged.size * BATCH);

    // The client resends every batch it sent (it cannot know which were written).
    let accepted = 0;
    let duplicates = 0;
    for (const b of batches) {
      const res = await after.ingestSampleBatch(b);
      accepted += Number(res.accepted);
      duplicates += Number(res.duplicates);
      if (acknowledged.has(b.batchId)) expect(res.duplicates, `${context}; ${b.batchId} was acknowledged`).toBe(BigInt(BATCH));
    }
    expect(accepted + duplicates, context).toBe(BATCHES * BATCH);
    expect(duplicates, context).toBe(kept);

    // Every sample learned once: trained or buffered, counted once.
    expect((await quiet(after, name)).samplesSeen, context).toBe(BigInt(BATCHES * BATCH));
    const third = await after.ingestSampleBatch(batches[0]!);
    expect([third.accepted, third.duplicates]).toEqual([0n, BigInt(BATCH)]);
  });
});
