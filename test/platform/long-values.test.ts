// A request value quoted back in an error is cut short, so a huge value still gets the
// intended code (not INTERNAL from an oversized grpc-message header) and a short message.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { failure } from "../support/gates.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { grpcurlPath, run } from "../support/tools.js";
import { llmConfig, MODEL, spec } from "../pipeline/helpers.js";

const HUGE = "x".repeat(100_000);
/** Generous: the quoted part is cut to about 100 characters, the rest of a message is ours. */
const BOUND = 600;

describe("errors quoting a 100,000-character request value, over grpc-js", () => {
  let s: TestServer;
  let upstream: FakeLlmServer;
  let transport: GrpcJsTransport;

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    s = await startTestServer({ llm: llmConfig(upstream), server: { maxMessageBytes: 4 << 20 } });
    await createClient(FeatureService, s.grpc).createFeatureSet({ featureSet: { name: "shop", features: [{ name: "age", type: FeatureType.DOUBLE }] } });
    await createClient(FeedbackService, s.grpc).createOnlineModel({ name: "m", task: Task.REGRESSION });
    await createClient(PipelineService, s.grpc).createPipeline({
      name: "p",
      spec: spec({ inputVariables: ["text"], preprocess: [{ template: { template: "Say {{text}}" } }], generate: [{ llmGenerate: { model: MODEL } }] }),
    });
  });
  // A fresh channel per case: a failure in one cannot break the next.
  beforeEach(() => {
    transport = createGrpcJsTransport(`127.0.0.1:${s.port}`);
  });
  afterEach(() => transport.close());
  afterAll(async () => {
    await s?.close();
    await upstream?.close();
  });

  async function expectBounded(call: () => Promise<unknown>, code: Code): Promise<ConnectError> {
    const err = ConnectError.from(await failure(call));
    expect(`${Code[err.code]}: ${err.rawMessage.slice(0, 1000)}`).toMatch(new RegExp(`^${Code[code]}:`));
    expect(err.rawMessage.length).toBeLessThan(BOUND);
    expect(err.rawMessage).toContain("xxxxxxxx");
    return err;
  }

  it("SubmitFeedback with a huge prediction_id", async () => {
    await expectBounded(() => createClient(FeedbackService, transport).submitFeedback({ predictionId: HUGE, actual: { kind: { case: "value", value: 1 } } }), Code.NotFound);
  });

  it("Generate and GenerateStream with a huge model", async () => {
    const llm = createClient(LLMService, transport);
    await expectBounded(() => llm.generate({ model: HUGE, prompt: "hi" }), Code.NotFound);
    await expectBounded(async () => {
      for await (const _ of llm.generateStream({ model: HUGE, prompt: "hi" }));
    }, Code.NotFound);
  });

  it("PutFeatures with a huge undeclared feature name", async () => {
    await expectBounded(
      () => createClient(FeatureService, transport).putFeatures({ featureSet: "shop", entityKey: "e", features: { [HUGE]: { kind: { case: "doubleValue", value: 1 } } } }),
      Code.InvalidArgument,
    );
  });

  it("Predict with a huge feature name holding NaN", async () => {
    await expectBounded(() => createClient(FeedbackService, transport).predict({ model: "m", features: { [HUGE]: { kind: { case: "doubleValue", value: NaN } } } }), Code.InvalidArgument);
  });

  it("ExecutePipeline with a huge input variable name", async () => {
    await expectBounded(() => createClient(PipelineService, transport).executePipeline({ name: "p", inputs: { text: "a", [HUGE]: "b" } }), Code.InvalidArgument);
  });

  it("CreatePipeline with a huge template variable, and with a huge llm_generate model", async () => {
    const pipelines = createClient(PipelineService, transport);
    await expectBounded(
      () => pipelines.createPipeline({ name: "q1", spec: spec({ inputVariables: ["text"], preprocess: [{ template: { template: `{{${HUGE}}}` } }], generate: [{ llmGenerate: { model: MODEL } }] }) }),
      Code.InvalidArgument,
    );
    await expectBounded(
      () => pipelines.createPipeline({ name: "q2", spec: spec({ inputVariables: ["text"], preprocess: [{ template: { template: "{{text}}" } }], generate: [{ llmGenerate: { model: HUGE } }] }) }),
      Code.InvalidArgument,
    );
  });

  it("GetPipeline with a huge name", async () => {
    await expectBounded(() => createClient(PipelineService, transport).getPipeline({ name: HUGE }), Code.NotFound);
  });

  it("an unknown method with a long name is UNIMPLEMENTED with a short grpc-message over gRPC-Web", async () => {
    const res = await fetch(`${s.baseUrl}/openloop.llm.v1.LLMService/${"y".repeat(8_000)}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: new Uint8Array(5),
    });
    expect(res.headers.get("grpc-status")).toBe(String(Code.Unimplemented));
    expect(res.headers.get("grpc-message")!.length).toBeLessThan(BOUND);
  });

  it("grpcurl sees NotFound and a short message for SubmitFeedback with a huge prediction_id", async () => {
    const body = JSON.stringify({ predictionId: HUGE, actual: { value: 1 } });
    const res = await run(grpcurlPath(), ["-plaintext", "-d", body, `127.0.0.1:${s.port}`, "openloop.feedback.v1.FeedbackService/SubmitFeedback"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Code: NotFound");
    expect(res.stderr.length).toBeLessThan(BOUND);
  });
});
