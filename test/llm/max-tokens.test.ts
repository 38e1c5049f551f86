// Generation always has a length cap: the server's default when a request sets none, which a
// request may lower or raise up to the configured limit; ListModels reports both.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { failure } from "../support/gates.js";
import { collect, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";

describe("generation length", () => {
  let upstream: FakeLlmServer;
  let s: LlmServer;
  /** The cap each chat request carried upstream (OpenAI's field for it). */
  const sentCaps = () => upstream.requests.filter((r) => r.method === "POST").map((r) => r.body.max_completion_tokens);

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    s = await startLlmServer({
      providers: { fake: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } },
      models: [{ id: "m", provider: "fake", upstreamModel: "fake-model-a" }],
      retry: { maxAttempts: 1 },
      defaultMaxTokens: 300,
      maxTokensLimit: 2000,
    });
  });
  afterAll(async () => {
    await s?.close();
    await upstream?.close();
  });
  beforeEach(() => upstream.reset());

  it("sends the server default upstream when max_tokens is unset, in Generate and GenerateStream", async () => {
    await s.client.generate(request("m"));
    await collect(s.client.generateStream(streamRequest("m")));
    expect(sentCaps()).toEqual([300, 300]);
  });

  it("lets a request lower the cap, or raise it up to the limit", async () => {
    await s.client.generate(request("m", { maxTokens: 5 }));
    await s.client.generate(request("m", { maxTokens: 2000 }));
    expect(sentCaps()).toEqual([5, 2000]);
  });

  it("refuses more than the limit with INVALID_ARGUMENT naming max_tokens and the limit, without calling upstream", async () => {
    const err = ConnectError.from(await failure(() => s.client.generate(request("m", { maxTokens: 2001 }))));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("max_tokens must be 1-2000 (the server's llm.maxTokensLimit), got 2001");
    const streamed = ConnectError.from(await failure(() => collect(s.client.generateStream(streamRequest("m", { maxTokens: 1_000_000 })))));
    expect(streamed.code).toBe(Code.InvalidArgument);
    expect(sentCaps()).toEqual([]);
  });

  it("reports the default and the limit in ListModels", async () => {
    const res = await s.client.listModels({});
    expect({ defaultMaxTokens: res.defaultMaxTokens, maxTokensLimit: res.maxTokensLimit }).toEqual({ defaultMaxTokens: 300, maxTokensLimit: 2000 });
  });
});

describe("generation length settings", () => {
  it("default to 1024 and 16384, come from the environment, and a default above the limit is refused", () => {
    const defaults = loadConfig({}, "/nonexistent");
    expect([defaults.llm.defaultMaxTokens, defaults.llm.maxTokensLimit]).toEqual([1024, 16_384]);
    const fromEnv = loadConfig({ OPENLOOP_LLM_DEFAULT_MAX_TOKENS: "64", OPENLOOP_LLM_MAX_TOKENS_LIMIT: "128" }, "/nonexistent");
    expect([fromEnv.llm.defaultMaxTokens, fromEnv.llm.maxTokensLimit]).toEqual([64, 128]);
    expect(() => loadConfig({ OPENLOOP_LLM_DEFAULT_MAX_TOKENS: "500", OPENLOOP_LLM_MAX_TOKENS_LIMIT: "100" }, "/nonexistent")).toThrow(/defaultMaxTokens must not exceed llm\.maxTokensLimit/);
  });
});
