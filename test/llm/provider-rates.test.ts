// Per-provider requestsPerMinute and tokensPerMinute in one process (issue #14, item 5): the
// buckets on a test clock, then over the wire: the model's fallback takes a call its provider's
// rate refuses, and without one the caller gets RESOURCE_EXHAUSTED with RetryInfo (429 with
// Retry-After from the OpenAI-compatible API).
import { Code, ConnectError } from "@connectrpc/connect";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { parseConfig } from "../../src/config.js";
import { ProviderRateGate, ProviderRateLimitedError } from "../../src/llm/provider-rates.js";
import { estimateTokens } from "../../src/llm/token-estimate.js";
import { MemoryRateLimiter } from "../../src/platform/rate-limit.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { request, startLlmServer, type LlmServer } from "./helpers.js";

/** A clock that moves only when the test says so. */
function testClock() {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by: number) => void (ms += by) };
}

async function refusal(p: Promise<unknown>): Promise<ProviderRateLimitedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderRateLimitedError) return err;
    throw err;
  }
  throw new Error("admitted, expected a refusal");
}

describe("ProviderRateGate", () => {
  const cost = { prompt: 10, output: 90 };

  it("admits requestsPerMinute at once, then says when the next one is, and refills over the minute", async () => {
    const clock = testClock();
    const gate = new ProviderRateGate(new MemoryRateLimiter(clock.now), "p", { requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) await gate.admit(cost);
    const refused = await refusal(gate.admit(cost));
    expect(refused.message).toBe("provider 'p' is over its 3 requests per minute");
    expect(refused.retryAfterMs).toBe(20_000);
    clock.advance(15_000);
    expect((await refusal(gate.admit(cost))).retryAfterMs).toBe(5_000);
    clock.advance(5_000);
    await gate.admit(cost);
    await refusal(gate.admit(cost));
  });

  it("reserves the prompt and max_tokens, and refuses what would exceed tokensPerMinute", async () => {
    const clock = testClock();
    const gate = new ProviderRateGate(new MemoryRateLimiter(clock.now), "p", { tokensPerMinute: 250 });
    await gate.admit(cost);
    await gate.admit(cost);
    // 50 tokens left; 100 more come in 12 s (250 a minute).
    const refused = await refusal(gate.admit(cost));
    expect(refused.message).toBe("provider 'p' is over its 250 tokens per minute (this call reserves 100)");
    expect(refused.retryAfterMs).toBe(12_000);
  });

  it("corrects a reservation by the usage the upstream reports, and gives max_tokens back when the call fails", async () => {
    const clock = testClock();
    const gate = new ProviderRateGate(new MemoryRateLimiter(clock.now), "p", { tokensPerMinute: 250 });
    (await gate.admit(cost)).settle(20); // 80 back: 230 left
    (await gate.admit(cost)).settle(undefined); // no usage reported: the 100 stay taken, 130 left
    (await gate.admit(cost)).fail(); // the prompt's 10 stay taken: 120 left
    const held = await gate.admit(cost); // 20 left
    expect((await refusal(gate.admit(cost))).retryAfterMs).toBe(Math.ceil((80 / 250) * 60_000));
    held.settle(150); // more than reserved: 50 more taken, 30 in debt
    expect((await refusal(gate.admit({ prompt: 1, output: 0 }))).retryAfterMs).toBe(Math.ceil((31 / 250) * 60_000));
  });

  it("does not count a request that its token budget refused", async () => {
    const clock = testClock();
    const gate = new ProviderRateGate(new MemoryRateLimiter(clock.now), "p", { requestsPerMinute: 2, tokensPerMinute: 100 });
    await gate.admit(cost);
    await refusal(gate.admit(cost)); // tokens
    await gate.admit({ prompt: 0, output: 0 }); // the second request is still there
    expect((await refusal(gate.admit({ prompt: 0, output: 0 }))).message).toContain("requests per minute");
  });

  it("admits a call larger than the whole minute's budget when the bucket is full, and leaves it in debt", async () => {
    const clock = testClock();
    const gate = new ProviderRateGate(new MemoryRateLimiter(clock.now), "p", { tokensPerMinute: 60 });
    await gate.admit({ prompt: 20, output: 100 });
    // 60 in debt: a full bucket again after two minutes.
    expect((await refusal(gate.admit({ prompt: 60, output: 0 }))).retryAfterMs).toBe(120_000);
  });
});

describe("estimateTokens", () => {
  it("counts about four characters a token, never words", () => {
    expect(estimateTokens(["Say hello"])).toBe(3);
    expect(estimateTokens(["abcd", "efgh", "i"])).toBe(3);
    expect(estimateTokens(["supercalifragilisticexpialidocious"])).toBe(9);
  });
});

describe("provider rate limit config", () => {
  it("names the key of a bad requestsPerMinute or tokensPerMinute", () => {
    const provider = { kind: "openai", apiKey: "k" };
    expect(() => parseConfig({ llm: { providers: { up: { ...provider, requestsPerMinute: 0 } }, models: [] } })).toThrow(/llm\.providers\.up\.requestsPerMinute: /);
    expect(() => parseConfig({ llm: { providers: { up: { ...provider, tokensPerMinute: 1.5 } }, models: [] } })).toThrow(/llm\.providers\.up\.tokensPerMinute: /);
    expect(() => parseConfig({ llm: { providers: { up: { ...provider, tokensPerMinut: 10 } }, models: [] } })).toThrow(/tokensPerMinut/);
  });
});

describe("provider rate limits over the wire, in one process", () => {
  let upstream: FakeLlmServer;
  let spare: FakeLlmServer;
  let s: LlmServer;

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    spare = await startFakeOpenAI();
    s = await startLlmServer({
      providers: {
        limited: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl, requestsPerMinute: 2 },
        tight: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl, requestsPerMinute: 1 },
        spare: { kind: "openai", apiKey: spare.apiKey, baseUrl: spare.baseUrl },
        embedder: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl, tokensPerMinute: 10 },
      },
      models: [
        { id: "with-fallback", provider: "limited", upstreamModel: "fake-model-a", fallbacks: ["spare-model"] },
        { id: "alone", provider: "tight", upstreamModel: "fake-model-a" },
        { id: "spare-model", provider: "spare", upstreamModel: "fake-model-b" },
        { id: "embed-model", provider: "embedder", upstreamModel: "fake-embed" },
      ],
      cache: { enabled: false },
      retry: { maxAttempts: 1 },
    });
  });

  afterAll(async () => {
    await s?.close();
    await upstream?.close();
    await spare?.close();
  });

  it("falls back to the next model once the provider's requestsPerMinute is spent", async () => {
    const served = [];
    for (let i = 0; i < 4; i++) served.push((await s.client.generate(request("with-fallback"))).model);
    expect(served).toEqual(["with-fallback", "with-fallback", "spare-model", "spare-model"]);
    expect(upstream.chatRequests.filter((r) => r.body.model === "fake-model-a")).toHaveLength(2);
    expect(spare.chatRequests).toHaveLength(2);
  });

  it("answers RESOURCE_EXHAUSTED with RetryInfo when no model of the chain can take the call, and 429 with Retry-After over the OpenAI API", async () => {
    await s.client.generate(request("alone"));
    let refused: ConnectError | undefined;
    try {
      await s.client.generate(request("alone"));
    } catch (err) {
      refused = ConnectError.from(err);
    }
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toMatch(/^provider 'tight' is over its 1 requests per minute; retry in \d+ ms$/);
    const [info] = refused!.findDetails(RetryInfoSchema);
    const delayMs = Number(info.retryDelay!.seconds) * 1000 + info.retryDelay!.nanos / 1e6;
    expect(delayMs).toBeGreaterThan(50_000);
    expect(delayMs).toBeLessThanOrEqual(60_000);

    const openai = new OpenAI({ baseURL: `${s.server.baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    const err = await openai.chat.completions.create({ model: "alone", messages: [{ role: "user", content: "Say hello" }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimited = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimited.status).toBe(429);
    expect(Number(rateLimited.headers?.get("retry-after"))).toBeGreaterThan(50);
  });

  it("reserves an embedding's estimated inputs and corrects them by the usage the provider reports", async () => {
    // 40 characters: 10 tokens reserved, the whole minute's budget; the fake reports 1 (one word).
    expect((await s.client.embed({ model: "embed-model", inputs: ["a".repeat(40)] })).usage?.inputTokens).toBe(1);
    // 9 tokens were given back, so 36 characters (9 tokens) fit; then 8 are left, and 10 do not.
    await s.client.embed({ model: "embed-model", inputs: ["b".repeat(36)] });
    let refused: ConnectError | undefined;
    try {
      await s.client.embed({ model: "embed-model", inputs: ["c".repeat(40)] });
    } catch (err) {
      refused = ConnectError.from(err);
    }
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toMatch(/^provider 'embedder' is over its 10 tokens per minute \(this call reserves 10\)/);
  });
});
