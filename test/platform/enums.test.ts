// Enum numbers the contract does not define are refused with INVALID_ARGUMENT naming the
// field, on every transport, wherever the enum sits in the request.
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import {
  CreateOnlineModelRequestSchema,
  FeedbackService,
  IngestSamplesRequestSchema,
  Optimizer,
  Task,
} from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { CacheMode, LLMService, Role } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { CreatePipelineRequestSchema, PipelineService, PipelineSpecSchema } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { RegisterModelVersionRequestSchema } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { bind } from "../../src/platform/rpc/binding.js";
import { enumCheckFor } from "../../src/platform/rpc/enum-check.js";
import { failure } from "../support/gates.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { startTestServer, type TestServer } from "../support/server.js";

describe("undefined enum numbers", () => {
  let s: TestServer;
  let grpcJs: GrpcJsTransport;
  const transports = (): [string, Transport][] => [
    ["grpc-js", grpcJs],
    ["Connect", s.connect],
    ["gRPC-Web", s.grpcWeb],
  ];

  beforeAll(async () => {
    s = await startTestServer();
    grpcJs = createGrpcJsTransport(`127.0.0.1:${s.port}`);
  });
  afterAll(async () => {
    grpcJs?.close();
    await s?.close();
  });

  async function refused(call: () => Promise<unknown>, field: string): Promise<void> {
    const err = ConnectError.from(await failure(call));
    // grpc-js's client leaves ':' percent-encoded (it decodes with decodeURI).
    expect(`${Code[err.code]}: ${err.rawMessage}`).toMatch(new RegExp(`^InvalidArgument: ${field.replace(/[[\]."]/g, "\\$&")}(:|%3A) `));
  }

  it("CreateOnlineModel with optimizer 7 is refused and nothing is stored", async () => {
    for (const [name, transport] of transports()) {
      const feedback = createClient(FeedbackService, transport);
      await refused(
        () => feedback.createOnlineModel({ name: `opt-${name.toLowerCase().replace(/[^a-z]/g, "")}`, task: Task.REGRESSION, hyperparameters: { optimizer: 7 as Optimizer } }),
        "hyperparameters.optimizer",
      );
      await expect(feedback.getOnlineModel({ name: `opt-${name.toLowerCase().replace(/[^a-z]/g, "")}` })).rejects.toMatchObject({ code: Code.NotFound });
    }
  });

  it("CreateOnlineModel with task 3 names task, and the message lists the defined values", async () => {
    for (const [, transport] of transports()) {
      const err = ConnectError.from(await failure(() => createClient(FeedbackService, transport).createOnlineModel({ name: "t", task: 3 as Task })));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/^task(:|%3A) /);
      expect(err.rawMessage).toContain("3 is not a value of openloop.feedback.v1.Task");
      expect(err.rawMessage).toContain("2 (TASK_BINARY_CLASSIFICATION)");
    }
  });

  it("Generate refuses a role in a repeated message and a cache mode, before looking at the model", async () => {
    for (const [, transport] of transports()) {
      const llm = createClient(LLMService, transport);
      await refused(() => llm.generate({ model: "none", messages: [{ role: Role.USER, content: "a" }, { role: 12 as Role, content: "b" }] }), "messages[1].role");
      await refused(() => llm.generate({ model: "none", prompt: "hi", cacheMode: 40 as CacheMode }), "cache_mode");
    }
  });

  it("GenerateStream (server streaming) refuses an undefined cache mode", async () => {
    for (const [, transport] of transports()) {
      await refused(async () => {
        for await (const _ of createClient(LLMService, transport).generateStream({ model: "none", prompt: "hi", cacheMode: -1 as CacheMode }));
      }, "cache_mode");
    }
  });

  it("CreateFeatureSet refuses an undefined feature type in a repeated field", async () => {
    for (const [name, transport] of transports()) {
      await refused(
        () => createClient(FeatureService, transport).createFeatureSet({ featureSet: { name: `s-${name.toLowerCase().replace(/[^a-z]/g, "")}`, features: [{ name: "a", type: FeatureType.DOUBLE }, { name: "b", type: 99 as FeatureType }] } }),
        "feature_set.features[1].type",
      );
    }
  });

  it("CreatePipeline refuses an undefined value in a map of enums inside a oneof, and in a repeated enum", async () => {
    const spec = (step: object, hooks: object[] = []) => create(PipelineSpecSchema, { inputVariables: ["features"], generate: [step], hooks } as never);
    for (const [, transport] of transports()) {
      const pipelines = createClient(PipelineService, transport);
      await refused(
        () => pipelines.createPipeline({ name: "p", spec: spec({ kind: { case: "predict", value: { model: "m", featureTypes: { age: 2, n: 77 } } } }) }),
        'spec.generate[0].predict.feature_types["n"]',
      );
      await refused(
        () =>
          pipelines.createPipeline({
            name: "p",
            spec: spec({ kind: { case: "predict", value: { model: "m" } } }, [{ url: "https://example.com/h", events: [1, 55] }]),
          }),
        "spec.hooks[0].events[1]",
      );
    }
  });

  it("checks every message of a client stream, stopping at the first undefined value (binding in process)", async () => {
    // No client-streaming request of the contract holds an enum today: give IngestSamples one.
    const method = { ...FeedbackService.method.ingestSamples, input: CreateOnlineModelRequestSchema };
    const desc = { ...FeedbackService, methods: [method], method: { ingestSamples: method } } as unknown as DescService;
    const seen: unknown[] = [];
    const binding = bind(desc, {
      async ingestSamples(requests: AsyncIterable<unknown>) {
        for await (const r of requests) seen.push(r);
        return {};
      },
    } as never);
    async function* requests() {
      yield create(CreateOnlineModelRequestSchema, { task: Task.REGRESSION });
      yield create(CreateOnlineModelRequestSchema, { hyperparameters: { optimizer: 9 as Optimizer } });
      yield create(CreateOnlineModelRequestSchema, { task: Task.REGRESSION });
    }
    const handler = (binding.impl as unknown as Record<string, (r: unknown, ctx: unknown) => Promise<unknown>>).ingestSamples;
    const err = ConnectError.from(await failure(() => handler(requests(), {})));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^hyperparameters\.optimizer: 9 is not a value/);
    expect(seen).toHaveLength(1);
  });

  it("is worked out once per request type, and methods without enum fields get no check", () => {
    expect(enumCheckFor(RegisterModelVersionRequestSchema)).toBeUndefined();
    expect(enumCheckFor(IngestSamplesRequestSchema)).toBeUndefined();
    const check = enumCheckFor(CreateOnlineModelRequestSchema)!;
    expect(() => check(create(CreateOnlineModelRequestSchema, { task: Task.REGRESSION, hyperparameters: { optimizer: Optimizer.ADAM } }))).not.toThrow();
    expect(() => check(create(CreateOnlineModelRequestSchema, { hyperparameters: { optimizer: 3 as Optimizer } }))).toThrow(/hyperparameters\.optimizer/);
    expect(enumCheckFor(CreatePipelineRequestSchema)).toBeDefined();
  });
});
