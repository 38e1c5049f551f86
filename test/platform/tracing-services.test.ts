// Spans of the services' own work, over real connections and a real Redis: feature store and
// response cache operations, cache hits, webhook deliveries, and trainings of the online learner.
import { randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { CacheMode, LLMService, Role } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { featureMap, makeRows } from "../feedback/synthetic.js";
import { llmConfig, MODEL, spec } from "../pipeline/helpers.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { WebhookReceiver } from "../support/pipeline-webhook.js";
import { SPAN_KIND_CLIENT, STATUS_ERROR, spanTree, startReceiver, startTracedServer, type ExportedSpan, type OtlpReceiver, type TracedServer } from "./tracing-otlp/support.js";

const REDIS = process.env.OPENLOOP_TEST_REDIS_URL!;
const model = `traced-${randomUUID().slice(0, 8)}`;
let receiver: OtlpReceiver;
let upstream: FakeLlmServer;
let hooks: WebhookReceiver;
let traced: TracedServer;
let exported: ExportedSpan[];
let tree: ReturnType<typeof spanTree>;

beforeAll(async () => {
  receiver = await startReceiver();
  upstream = await startFakeOpenAI();
  hooks = await WebhookReceiver.start();
  traced = await startTracedServer(receiver, {
    redis: { url: REDIS },
    feature: { redis: { keyPrefix: `openloop:test-${randomUUID().slice(0, 8)}:` } },
    feedback: { redisKeyPrefix: `openloop:feedback:test-${randomUUID().slice(0, 8)}:` },
    llm: { ...llmConfig(upstream), cache: { enabled: true, backend: "redis", ttlMs: 60_000 }, retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 1 } },
    // The webhook receiver listens on loopback, which hooks may reach only when allowed.
    pipeline: { hooks: { allowCidrs: ["127.0.0.0/8"] } },
  });

  const features = createClient(FeatureService, traced.transport("grpc", "aaaaaaaaaaaaaaa1"));
  await features.createFeatureSet({ featureSet: { name: "users", features: [{ name: "age", type: FeatureType.INT64 }] } });
  await features.putFeatures({ featureSet: "users", entityKey: "u1", features: { age: { kind: { case: "int64Value", value: 41n } } } });
  await createClient(FeatureService, traced.transport("grpc", "aaaaaaaaaaaaaaa2")).getFeatures({ featureSet: "users", entityKey: "u1" });

  const question = { model: MODEL, messages: [{ role: Role.USER, content: `cached ${randomUUID()}` }], cacheMode: CacheMode.USE };
  expect((await createClient(LLMService, traced.transport("grpc", "bbbbbbbbbbbbbbb1")).generate(question)).cached).toBe(false);
  expect((await createClient(LLMService, traced.transport("grpc", "bbbbbbbbbbbbbbb2")).generate(question)).cached).toBe(true);

  upstream.enqueue({ kind: "error", status: 503 });
  upstream.enqueue({ kind: "answer", deltas: ["second try"], inputTokens: 4, outputTokens: 2 });
  const retried = { model: MODEL, messages: [{ role: Role.USER, content: "retried" }], cacheMode: CacheMode.BYPASS };
  await createClient(LLMService, traced.transport("grpc", "eeeeeeeeeeeeeee1")).generate(retried);

  // A client that gives up while the upstream hangs: the span records the CANCELLED it caused.
  upstream.enqueue({ kind: "hang" });
  const seen = upstream.requests.length;
  const abort = new AbortController();
  const hung = createClient(LLMService, traced.transport("grpc", "fffffffffffffff1")).generate({ ...retried, messages: [{ role: Role.USER, content: "hangs" }] }, { signal: abort.signal });
  await upstream.until(() => upstream.requests.length > seen);
  abort.abort();
  await expect(hung).rejects.toMatchObject({ code: Code.Canceled });
  await upstream.until(() => upstream.clientAborts > 0);

  const pipelines = createClient(PipelineService, traced.transport("grpc", "ccccccccccccccc1"));
  await pipelines.createPipeline({
    name: "hooked",
    spec: spec({
      inputVariables: ["prompt"],
      generate: [{ llmGenerate: { model: MODEL } }],
      hooks: [{ url: hooks.url(), events: ["HOOK_EVENT_POST_EXECUTE"], required: true }],
    }),
  });
  await createClient(PipelineService, traced.transport("grpc", "ccccccccccccccc2")).executePipeline({ name: "hooked", inputs: { prompt: "hi" } });

  const feedback = createClient(FeedbackService, traced.transport("grpc", "ddddddddddddddd1"));
  await feedback.createOnlineModel({ name: model, task: Task.REGRESSION, updateThreshold: 50, warmUp: false });
  const samples = makeRows("regression", 50, 7).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
  await feedback.ingestSampleBatch({ model, samples });
  // The training runs in the background: wait for it to finish before the server (and its exporter) stops.
  for (let i = 0; (await feedback.getLearnerStatus({ model })).trainings < 1n; i++) {
    if (i > 600) throw new Error("no training within 30 s");
    await new Promise((r) => setTimeout(r, 50));
  }

  await traced.close();
  exported = receiver.spans;
  tree = spanTree(exported);
}, 90_000);

afterAll(async () => {
  await traced?.close();
  await receiver?.close();
  await upstream?.close();
  await hooks?.close();
});

describe("spans of the services' work", () => {
  it("feature store operations in Redis are children of the RPC that made them", () => {
    const rpc = tree.calledFrom("openloop.feature.v1.FeatureService/GetFeatures", "aaaaaaaaaaaaaaa2");
    const ops = tree.childrenOf(rpc).filter((s) => s.name.startsWith("feature.store."));
    expect(ops.length).toBeGreaterThan(0);
    for (const op of ops) {
      expect(op.kind).toBe(SPAN_KIND_CLIENT);
      expect(op.attributes).toMatchObject({ "db.system.name": "redis" });
    }
  });

  it("a response-cache miss reaches the provider; a hit is marked on Generate and calls no provider", () => {
    const miss = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "bbbbbbbbbbbbbbb1");
    const hit = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "bbbbbbbbbbbbbbb2");
    expect(miss.attributes["openloop.llm.cache_hit"]).toBe(false);
    expect(hit.attributes["openloop.llm.cache_hit"]).toBe(true);
    expect(tree.childrenOf(miss).map((s) => s.name)).toContain("chat fake-model-a");
    expect(tree.childrenOf(hit).map((s) => s.name)).not.toContain("chat fake-model-a");
    const lookup = tree.childrenOf(hit).find((s) => s.name === "llm.cache.get");
    expect(lookup?.attributes).toMatchObject({ "db.system.name": "redis" });
  });

  it("each upstream attempt is a span numbered by its attempt; only the answered one has token counts", () => {
    const rpc = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "eeeeeeeeeeeeeee1");
    const attempts = tree.childrenOf(rpc).filter((s) => s.name === "chat fake-model-a");
    expect(attempts.map((s) => s.attributes["openloop.llm.attempt"]).sort()).toEqual([1, 2]);
    const [first, second] = [1, 2].map((n) => attempts.find((s) => s.attributes["openloop.llm.attempt"] === n)!);
    expect(first.status).toBe(STATUS_ERROR);
    expect(first.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(second.attributes).toMatchObject({ "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 2 });
  });

  it("a call its client cancelled on native gRPC ends with CANCELLED, and so does its provider call", () => {
    const rpc = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "fffffffffffffff1");
    expect(rpc.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.grpc.status_code": Code.Canceled });
    expect(tree.onlyChild(rpc, "chat fake-model-a").status).toBe(STATUS_ERROR);
  });

  it("a webhook delivery is a span of the run that sent it", () => {
    const rpc = tree.calledFrom("openloop.pipeline.v1.PipelineService/ExecutePipeline", "ccccccccccccccc2");
    const hook = tree.onlyChild(rpc, "pipeline.hook post_execute");
    expect(hook.kind).toBe(SPAN_KIND_CLIENT);
    expect(hook.attributes).toMatchObject({ "openloop.pipeline.hook.event": "post_execute", "url.full": hooks.url(), "openloop.pipeline.hook.attempt": 1 });
    expect(hooks.received).toHaveLength(1);
  });

  it("a training of the online learner is a trace of its own, with its Redis operations inside", () => {
    const trainings = exported.filter((s) => s.name === "feedback.train" && s.attributes["openloop.feedback.model"] === model);
    const trained = trainings.find((s) => s.attributes["openloop.feedback.training_outcome"] === "trained");
    expect(trained).toBeDefined();
    expect(trained!.parentSpanId).toBe("");
    const inside = tree.childrenOf(trained!);
    expect(inside.some((s) => s.name.startsWith("feedback.buffer.") && s.attributes["db.system.name"] === "redis")).toBe(true);
    expect(inside.some((s) => s.name.startsWith("feedback.lock."))).toBe(true);
  });
});
