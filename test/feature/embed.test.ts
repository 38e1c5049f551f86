// Embeddings reach the feature store: the embed transformer of a feature set and the pipeline's
// embed step, both calling LLMService.Embed (an OpenAI fake upstream), over real gRPC clients.
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType, type FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { fakeVector, type FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { failure } from "../support/gates.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { spec } from "../pipeline/helpers.js";

let upstream: FakeLlmServer;
let s: TestServer;
let features: Client<typeof FeatureService>;
let pipelines: Client<typeof PipelineService>;

const text = (value: string) => ({ kind: { case: "stringValue" as const, value } });
/** A double_list feature's numbers. */
const vector = (v: FeatureValue | undefined) => (v?.kind.case === "doubleList" ? [...v.kind.value.values] : v);

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  s = await startTestServer({
    llm: {
      providers: { openai: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } },
      models: [
        { id: "embedder", provider: "openai", upstreamModel: "text-embedding-upstream" },
        { id: "chat", provider: "openai", upstreamModel: "gpt-upstream" },
      ],
      retry: { maxAttempts: 1 },
    },
  });
  features = createClient(FeatureService, s.grpc);
  pipelines = createClient(PipelineService, s.grpc);
  await features.createFeatureSet({
    featureSet: {
      name: "docs",
      features: [
        { name: "title", type: FeatureType.STRING, transformers: [{ kind: { case: "embed", value: { model: "embedder" } } }] },
        { name: "summary", type: FeatureType.STRING, transformers: [{ kind: { case: "embed", value: { model: "embedder", dimensions: 3 } } }] },
        { name: "words", type: FeatureType.INT64 },
      ],
    },
  });
});
afterAll(async () => {
  await s?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

describe("the embed transformer of a feature set", () => {
  it("stores the text's vector as a double_list that GetFeatures reads back", async () => {
    const put = await features.putFeatures({
      featureSet: "docs",
      entityKey: "doc-1",
      process: true,
      features: { title: text("Cats and dogs"), summary: text("A story"), words: { kind: { case: "int64Value", value: 120n } } },
    });
    expect(vector(put.features.title)).toEqual(fakeVector("Cats and dogs"));
    const got = await features.getFeatures({ featureSet: "docs", entityKey: "doc-1" });
    expect(vector(got.features.title)).toEqual(fakeVector("Cats and dogs"));
    expect(vector(got.features.summary)).toEqual(fakeVector("A story", 3));
    expect(got.features.words.kind).toEqual({ case: "int64Value", value: 120n });
    // One Embed call per model and length: the two features went upstream in two requests.
    const sent = upstream.requests.filter((r) => r.path.endsWith("/embeddings")).map((r) => r.body);
    expect(sent).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ model: "text-embedding-upstream", input: ["Cats and dogs"] }),
        expect.objectContaining({ model: "text-embedding-upstream", input: ["A story"], dimensions: 3 }),
      ]),
    );
  });

  it("embeds in ProcessFeatures without storing", async () => {
    const res = await features.processFeatures({ featureSet: "docs", features: { title: text("Birds") } });
    expect(vector(res.features.title)).toEqual(fakeVector("Birds"));
  });

  it("refuses an embed transformer on a feature that is not a string", async () => {
    const err = ConnectError.from(
      await failure(() =>
        features.createFeatureSet({
          featureSet: { name: "bad_embed", features: [{ name: "n", type: FeatureType.DOUBLE, transformers: [{ kind: { case: "embed", value: { model: "embedder" } } }] }] },
        }),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/embed/);
  });

  it("fails a put whose model is unknown with LLMService's NOT_FOUND, storing nothing", async () => {
    await features.createFeatureSet({
      featureSet: { name: "ghost_model", features: [{ name: "t", type: FeatureType.STRING, transformers: [{ kind: { case: "embed", value: { model: "no-such-model" } } }] }] },
    });
    const err = ConnectError.from(await failure(() => features.putFeatures({ featureSet: "ghost_model", entityKey: "e", process: true, features: { t: text("x") } })));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toMatch(/unknown model 'no-such-model'/);
    const missing = ConnectError.from(await failure(() => features.getFeatures({ featureSet: "ghost_model", entityKey: "e" })));
    expect(missing.code).toBe(Code.NotFound);
  });
});

describe("the pipeline's embed step", () => {
  it("puts the vector of a text variable into a variable", async () => {
    await pipelines.createPipeline({
      name: "embed-then-answer",
      spec: spec({
        inputVariables: ["question"],
        preprocess: [{ embed: { model: "embedder", input: "question", output: "vector" } }, { template: { template: "{{question}}" } }],
        generate: [{ llmGenerate: { model: "chat" } }],
        outputVariable: "vector",
      }),
    });
    const res = await pipelines.executePipeline({ name: "embed-then-answer", inputs: { question: "What is a cat?" } as never });
    expect(toJson(ValueSchema, res.output!)).toEqual(fakeVector("What is a cat?"));
  });

  it("fails the run with INVALID_ARGUMENT when the variable is not text", async () => {
    await pipelines.createPipeline({
      name: "embed-a-number",
      spec: spec({ inputVariables: ["n"], preprocess: [{ embed: { model: "embedder", input: "n" } }, { template: { template: "x" } }], generate: [{ llmGenerate: { model: "chat" } }] }),
    });
    const err = ConnectError.from(await failure(() => pipelines.executePipeline({ name: "embed-a-number", inputs: { n: 3 } as never })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/must be a non-empty string to embed/);
  });

  it("refuses a pipeline whose embed model does not exist", async () => {
    const err = ConnectError.from(
      await failure(() =>
        pipelines.createPipeline({
          name: "embed-ghost",
          spec: spec({ inputVariables: ["prompt"], preprocess: [{ embed: { model: "no-such-model" } }], generate: [{ llmGenerate: { model: "chat" } }] }),
        }),
      ),
    );
    expect(err.rawMessage).toMatch(/no-such-model/);
  });
});
