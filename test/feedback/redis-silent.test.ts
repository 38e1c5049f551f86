// FeedbackService on a Redis that is connected but silent (frozen with SIGSTOP): acknowledgements
// (IngestSampleBatch, IngestSamples, SubmitFeedback) and Predict (whose prediction is recorded in
// Redis, a turn's predictions in one command) answer UNAVAILABLE soon after
// redis.commandTimeoutMs instead of waiting on retries, and work again once Redis answers.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startRedis, type RedisProcess } from "../support/redis.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { featureMap, makeRows } from "./synthetic.js";

const COMMAND_TIMEOUT_MS = 400;
// Generous: a loaded machine, not a second timeout or a retry (the old client took 10 s and more).
const BOUND_MS = COMMAND_TIMEOUT_MS * 3;

let redis: RedisProcess;
let server: TestServer;
let feedback: Client<typeof FeedbackService>;
const model = `silent-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  redis = await startRedis();
  server = await startTestServer({ redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS }, llm: { providers: {}, models: [] } });
  feedback = createClient(FeedbackService, server.grpc);
  await feedback.createOnlineModel({ name: model, task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
});

afterAll(async () => {
  redis?.resume();
  await server?.close();
  await redis?.stop();
});

const samples = (n: number, seed: number) =>
  makeRows("regression", n, seed).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));

/** How a call ends and how long it took, with a deadline far beyond the command timeout. */
async function timed(call: (opts: { timeoutMs: number }) => Promise<unknown>): Promise<{ code: Code | "OK"; ms: number }> {
  const started = performance.now();
  const code = await call({ timeoutMs: 20_000 }).then(
    () => "OK" as const,
    (e: unknown) => ConnectError.from(e).code,
  );
  return { code, ms: performance.now() - started };
}

test("acknowledgements answer UNAVAILABLE within a bound of commandTimeoutMs while Redis is silent, then recover", async () => {
  const p = await feedback.predict({ model, features: featureMap([1, 2, 3]) });
  const calls = {
    ingestSampleBatch: (o: { timeoutMs: number }) => feedback.ingestSampleBatch({ model, samples: samples(5, 1) }, o),
    ingestSamples: (o: { timeoutMs: number }) =>
      feedback.ingestSamples(
        (async function* () {
          for (let i = 0; i < 2; i++) yield { model, samples: samples(3, 2 + i) };
        })(),
        o,
      ),
    submitFeedback: (o: { timeoutMs: number }) => feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 2 } } }, o),
    predict: (o: { timeoutMs: number }) => feedback.predict({ model, features: featureMap([4, 5, 6]) }, o),
  };
  redis.pause();
  try {
    for (const [name, call] of Object.entries(calls)) {
      const r = await timed(call);
      expect({ name, code: r.code }).toEqual({ name, code: Code.Unavailable });
      expect(r.ms, name).toBeLessThan(BOUND_MS);
    }
    // Several at once: none waits behind another's timeout.
    const together = await Promise.all(Array.from({ length: 10 }, (_, i) => timed(i % 2 ? calls.predict : calls.ingestSampleBatch)));
    for (const r of together) {
      expect(r.code).toBe(Code.Unavailable);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
  } finally {
    redis.resume();
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await timed(calls.ingestSampleBatch);
    if (r.code === "OK") break;
    if (Date.now() > deadline) throw new Error(`still ${Code[r.code]} 10 s after Redis resumed`);
    await new Promise((res) => setTimeout(res, 100));
  }
  expect((await calls.ingestSamples({ timeoutMs: 5_000 })).accepted).toBe(6n);
  // A command that timed out may still have run once Redis resumed (that prediction may count as
  // having feedback already): recovery is shown with a new prediction.
  const q = await feedback.predict({ model, features: featureMap([1, 2, 3]) });
  expect(await feedback.submitFeedback({ predictionId: q.predictionId, actual: { kind: { case: "value", value: 2 } } })).toMatchObject({ sentToLearner: true });
});
