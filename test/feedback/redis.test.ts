// The Redis backend: shared buffer, predictions and training lock for replicas.
import { randomUUID } from "node:crypto";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService, type ModelVersion } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { featureMap, makeRows } from "./synthetic.js";

const REDIS = process.env.OPENLOOP_TEST_REDIS_URL!;
const started: TestServer[] = [];
const spawned: SpawnedServer[] = [];

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  await Promise.all(spawned.map((s) => s.stop()));
});

/**
 * A key prefix of the test's own: servers open every model under their prefix, and
 * replicas of other tests running at the same time must not join in.
 */
function isolated(): string {
  return `openloop:feedback:test-${randomUUID().slice(0, 8)}:`;
}

async function replica(redisKeyPrefix: string): Promise<{ server: TestServer; feedback: Client<typeof FeedbackService> }> {
  const server = await startTestServer({ redis: { url: REDIS }, feedback: { redisKeyPrefix } });
  started.push(server);
  return { server, feedback: createClient(FeedbackService, server.grpc) };
}

function batch(n: number, seed: number) {
  return makeRows("regression", n, seed).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the Redis backend", () => {
  it("keeps buffered samples in Redis across a restart", async () => {
    const name = `redis-restart-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    expect((await a.feedback.ingestSampleBatch({ model: name, samples: batch(300, 1) })).accepted).toBe(300n);
    await a.server.close();
    const b = await replica(prefix);
    const s = await b.feedback.getLearnerStatus({ model: name });
    expect(s).toMatchObject({ bufferedSamples: 300n, currentVersion: "1" });
  });

  it("takes feedback on one replica for a prediction made on another, once, even when sent to both at once", async () => {
    const name = `redis-shared-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION });
    const p = await a.feedback.predict({ model: name, features: featureMap([1, 2, 3]) });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 2 } } }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(1);
    expect((ok[0] as PromiseFulfilledResult<{ error: number }>).value).toMatchObject({ error: 2, sentToLearner: true, modelVersion: "1" });
    for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: Code.AlreadyExists });
    expect((await a.feedback.getLearnerStatus({ model: name })).bufferedSamples).toBe(1n);
  });

  it("records every one of many concurrent predictions (written to Redis in batches), each reachable from another replica", async () => {
    const name = `redis-batch-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 1000 });
    const predictions = await Promise.all(Array.from({ length: 60 }, (_, i) => a.feedback.predict({ model: name, features: featureMap([i, 1]) })));
    expect(new Set(predictions.map((p) => p.predictionId)).size).toBe(60);
    const answers = await Promise.all(predictions.map((p) => b.feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 1 } } })));
    expect(answers.every((r) => r.modelVersion === "1")).toBe(true);
    expect((await a.feedback.getLearnerStatus({ model: name })).bufferedSamples).toBe(60n);
  });

  it("records a client's prediction id once when RecordPrediction sends it twice at once, to one replica or to two", async () => {
    const name = `redis-record-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 1000 });
    const record = (r: typeof a, predictionId: string, value: number) =>
      r.feedback.recordPrediction({ model: name, features: featureMap([value, 1]), prediction: { value }, predictionId });
    // Sent together to one replica, both land in the same write to Redis as often as not.
    for (const [id, first, second] of [["order-1", a, a], ["order-2", a, b]] as const) {
      const results = await Promise.allSettled([record(first, id, 1), record(second, id, 2)]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ code: Code.AlreadyExists });
      // The one recorded is the winner's, whole: feedback through the other replica scores it.
      const won = results[0]!.status === "fulfilled" ? 1 : 2;
      const fb = await (second === b ? a : b).feedback.submitFeedback({ predictionId: id, actual: { kind: { case: "value", value: 5 } } });
      expect(fb.error).toBeCloseTo(Math.abs(5 - won));
    }
  });

  it("switches every replica to the version one of them trained", async () => {
    const name = `redis-follow-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 100, warmUp: false });
    await b.feedback.getOnlineModel({ name });
    await a.feedback.ingestSampleBatch({ model: name, samples: batch(100, 2) });
    await until(async () => ((await b.feedback.predict({ model: name, features: featureMap([1]) })).modelVersion === "2" ? true : undefined));
  });
});

describe("replicas sharing one Redis", () => {
  it("never train the same model at once: versions form one chain and every sample is trained once", async () => {
    const name = `redis-lock-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const env = { OPENLOOP_REDIS_URL: REDIS };
    // At most 300 samples per training: 20 trainings, whatever the machine's speed.
    const config = { feedback: { maxTrainingSamples: 300, redisKeyPrefix: prefix } };
    const [a, b] = await Promise.all([spawnServer({ env, config }), spawnServer({ env, config })]);
    spawned.push(a, b);
    const ta = createGrpcTransport({ baseUrl: a.baseUrl });
    const tb = createGrpcTransport({ baseUrl: b.baseUrl });
    const fa = createClient(FeedbackService, ta);
    const fb = createClient(FeedbackService, tb);
    // Every version kept (max_versions 0): the chain below is checked whole.
    await fa.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 300, warmUp: false, maxVersions: 0 });
    const samples = batch(100, 3);
    let accepted = 0;
    await Promise.all(
      [fa, fb, fa, fb].map(async (client) => {
        for (let i = 0; i < 15; i++) {
          const res = await client.ingestSampleBatch({ model: name, samples });
          accepted += Number(res.accepted);
        }
      }),
    );
    expect(accepted).toBe(6_000);
    const settled = await until(async () => {
      const [sa, sb] = await Promise.all([fa.getLearnerStatus({ model: name }), fb.getLearnerStatus({ model: name })]);
      return !sa.training && !sb.training && sa.bufferedSamples < 300n ? sa : undefined;
    });

    // Each replica registered the versions it trained in its own registry.
    const versions: ModelVersion[] = [];
    for (const t of [ta, tb]) {
      const list = await createClient(RegistryService, t).listModelVersions({ name, pageSize: 1000 }).catch(() => ({ modelVersions: [] }));
      versions.push(...list.modelVersions);
    }
    const numbers = versions.map((v) => Number(v.version)).sort((x, y) => x - y);
    expect(new Set(numbers).size).toBe(numbers.length);
    const byVersion = new Map(versions.map((v) => [Number(v.version), v]));
    for (let i = 1; i < numbers.length; i++) {
      // Trained from the version just before it: two trainings at once would share a parent.
      expect(byVersion.get(numbers[i]!)!.lineage!.parentVersion).toBe(String(numbers[i - 1]));
    }
    const trained = versions.reduce((n, v) => n + Number(v.lineage!.samplesUsed), 0);
    expect(trained + Number(settled.bufferedSamples)).toBe(accepted);
    expect(Number(settled.samplesSeen)).toBe(accepted);
    expect(numbers.length).toBe(21);
  });
});

describe("a shared buffer", () => {
  it("trains once the samples of all replicas together reach the threshold", async () => {
    const name = `redis-together-${randomUUID().slice(0, 8)}`;
    const prefix = isolated();
    const a = await replica(prefix);
    const b = await replica(prefix);
    await a.feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 100, warmUp: false });
    await a.feedback.ingestSampleBatch({ model: name, samples: batch(50, 4) });
    await b.feedback.ingestSampleBatch({ model: name, samples: batch(50, 5) });
    const s = await until(async () => {
      const st = await b.feedback.getLearnerStatus({ model: name });
      return st.currentVersion === "2" ? st : undefined;
    });
    expect(s.lastTraining ?? (await a.feedback.getLearnerStatus({ model: name })).lastTraining).toMatchObject({ samplesUsed: 100n });
  });
});

describe("a Redis that is down", () => {
  it("does not hold up the server's start, and calls answer UNAVAILABLE", async () => {
    const server = await startTestServer({ redis: { url: "redis://127.0.0.1:1" } });
    started.push(server);
    const feedback = createClient(FeedbackService, server.grpc);
    await expect(feedback.createOnlineModel({ name: "down", task: Task.REGRESSION })).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(feedback.getOnlineModel({ name: "down" })).rejects.toMatchObject({ code: Code.Unavailable });
  });
});
