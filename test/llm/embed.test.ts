// LLMService.Embed over gRPC: OpenAI and Cohere fakes upstream, fallbacks, retries and bad input.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeAnthropic } from "../support/fake-anthropic.js";
import { startFakeCohere } from "../support/fake-cohere.js";
import { fakeTokens, fakeVector, type FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { failure, fastRetry, startLlmServer, type LlmServer } from "./helpers.js";

let openai: FakeLlmServer;
let cohere: FakeLlmServer;
let anthropic: FakeLlmServer;
let llm: LlmServer;

beforeAll(async () => {
  [openai, cohere, anthropic] = await Promise.all([startFakeOpenAI(), startFakeCohere(), startFakeAnthropic()]);
  llm = await startLlmServer({
    providers: {
      openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl },
      cohere: { kind: "cohere", apiKey: cohere.apiKey, baseUrl: cohere.baseUrl },
      anthropic: { kind: "anthropic", apiKey: anthropic.apiKey, baseUrl: anthropic.baseUrl },
    },
    models: [
      { id: "small-embed", provider: "openai", upstreamModel: "text-embedding-3-small", aliases: ["embed"], fallbacks: ["cohere-embed"] },
      { id: "cohere-embed", provider: "cohere", upstreamModel: "embed-v4.0" },
      { id: "claude", provider: "anthropic", upstreamModel: "claude-upstream" },
    ],
    retry: fastRetry,
  });
});
afterAll(async () => {
  await llm?.close();
  await Promise.all([openai?.close(), cohere?.close(), anthropic?.close()]);
});
beforeEach(() => {
  openai.reset();
  cohere.reset();
});

const embedRequests = (fake: FakeLlmServer, path: string) => fake.requests.filter((r) => r.path.endsWith(path));

describe("Embed", () => {
  it("returns one vector per input, in order, with usage and the model that answered", async () => {
    const texts = ["first text", "second", "third one here"];
    const res = await llm.client.embed({ model: "embed", inputs: texts });
    expect(res.embeddings.map((e) => e.values)).toEqual(texts.map((t) => fakeVector(t)));
    expect(res.usage).toMatchObject({ inputTokens: fakeTokens(texts), outputTokens: 0 });
    expect(res).toMatchObject({ model: "small-embed", provider: "openai", upstreamModel: "text-embedding-3-small" });
    // The request the openai SDK sends by default: base64 vectors.
    expect(embedRequests(openai, "/embeddings")[0].body).toEqual({ model: "text-embedding-3-small", input: texts, encoding_format: "base64" });
  });

  it("retries a 503 and then answers", async () => {
    openai.enqueue({ kind: "error", status: 503, message: "busy" });
    const res = await llm.client.embed({ model: "small-embed", inputs: ["x"] });
    expect(res.provider).toBe("openai");
    expect(embedRequests(openai, "/embeddings")).toHaveLength(2);
  });

  it("falls back to the next model when the first is rate limited after its retries", async () => {
    openai.enqueue(...Array.from({ length: fastRetry.maxAttempts }, () => ({ kind: "error" as const, status: 429, message: "slow down" })));
    const res = await llm.client.embed({ model: "small-embed", inputs: ["fallback text"], dimensions: 5 });
    expect(res).toMatchObject({ model: "cohere-embed", provider: "cohere" });
    expect(res.embeddings[0].values).toEqual(fakeVector("fallback text", 5));
    expect(embedRequests(cohere, "/v2/embed")[0].body).toEqual({
      texts: ["fallback text"],
      model: "embed-v4.0",
      input_type: "search_document",
      embedding_types: ["float"],
      output_dimension: 5,
    });
  });

  it("refuses no inputs, an empty input and a bad length with INVALID_ARGUMENT naming the field", async () => {
    const code = async (req: Parameters<typeof llm.client.embed>[0]) => ConnectError.from(await failure(() => llm.client.embed(req)));
    expect(await code({ model: "small-embed", inputs: [] })).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^inputs is required/) });
    expect(await code({ model: "small-embed", inputs: ["a", ""] })).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^inputs\[1\] is empty/) });
    expect(await code({ model: "small-embed", inputs: ["a"], dimensions: 0 })).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^dimensions must be/) });
    expect(embedRequests(openai, "/embeddings")).toHaveLength(0);
  });

  it("answers NOT_FOUND for an unknown model and INVALID_ARGUMENT for a model without embeddings", async () => {
    expect(ConnectError.from(await failure(() => llm.client.embed({ model: "nope", inputs: ["x"] }))).code).toBe(Code.NotFound);
    const err = ConnectError.from(await failure(() => llm.client.embed({ model: "claude", inputs: ["x"] })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("model 'claude' cannot embed: provider 'anthropic' has no embeddings API");
  });
});
