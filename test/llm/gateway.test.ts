// Gateway behaviour over the real server: cache modes, streamed replay, single flight,
// retries, fallbacks, cancellation, deadlines, concurrency limits, errors and metrics.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CacheMode } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { startFakeAnthropic } from "../support/fake-anthropic.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { collect, failure, fastRetry, lockstep, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";

let openai: FakeLlmServer;
let anthropic: FakeLlmServer;
let llm: LlmServer;

beforeAll(async () => {
  openai = await startFakeOpenAI();
  anthropic = await startFakeAnthropic();
  llm = await startLlmServer({
    providers: {
      openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl },
      anthropic: { kind: "anthropic", apiKey: anthropic.apiKey, baseUrl: anthropic.baseUrl },
      narrow: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl, maxConcurrency: 1, maxQueue: 1 },
      wrongkey: { kind: "openai", apiKey: "sk-wrong-secret-key-0123456789", baseUrl: openai.baseUrl },
    },
    models: [
      { id: "gpt-test", provider: "openai", upstreamModel: "gpt-upstream", aliases: ["fast"], fallbacks: ["claude-test"] },
      { id: "claude-test", provider: "anthropic", upstreamModel: "claude-upstream" },
      { id: "solo", provider: "openai", upstreamModel: "solo-upstream" },
      { id: "narrow-model", provider: "narrow" },
      { id: "narrow-or-claude", provider: "narrow", fallbacks: ["claude-test"] },
      { id: "locked", provider: "wrongkey" },
    ],
    retry: fastRetry,
  });
});

afterAll(async () => {
  await llm?.close();
  await openai?.close();
  await anthropic?.close();
});

beforeEach(() => {
  openai.reset();
  anthropic.reset();
});

/** A prompt no other test uses, so cache entries never leak between tests. */
const unique = () => `question ${randomUUID()}`;

async function inFlight(model: string): Promise<number> {
  const { models } = await llm.client.getMetrics({ model });
  return models.reduce((n, m) => n + Number(m.inFlight), 0);
}

async function untilInFlight(model: string, n: number): Promise<void> {
  while ((await inFlight(model)) < n) await new Promise((r) => setTimeout(r, 5));
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("cache", () => {
  it("answers an identical request from the cache and says so", async () => {
    const prompt = unique();
    const first = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const second = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    expect(first.cached).toBe(false);
    expect(second).toMatchObject({ cached: true, text: first.text, usage: first.usage, model: "gpt-test" });
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("uses the cache by default (CACHE_MODE_UNSPECIFIED)", async () => {
    const prompt = unique();
    await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.UNSPECIFIED }));
    const again = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.UNSPECIFIED }));
    expect(again.cached).toBe(true);
  });

  it("shares entries between a model id and its alias", async () => {
    const prompt = unique();
    await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const viaAlias = await llm.client.generate(request("fast", { prompt, cacheMode: CacheMode.USE }));
    expect(viaAlias.cached).toBe(true);
  });

  it("misses when any parameter differs", async () => {
    const prompt = unique();
    await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE, temperature: 0.5 }));
    const other = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE, temperature: 0.6 }));
    expect(other.cached).toBe(false);
    expect(openai.chatRequests).toHaveLength(2);
  });

  it("neither reads nor writes the cache in bypass mode", async () => {
    const prompt = unique();
    await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const bypassed = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.BYPASS }));
    expect(bypassed.cached).toBe(false);
    const fresh = unique();
    await llm.client.generate(request("gpt-test", { prompt: fresh, cacheMode: CacheMode.BYPASS }));
    const afterBypass = await llm.client.generate(request("gpt-test", { prompt: fresh, cacheMode: CacheMode.USE }));
    expect(afterBypass.cached).toBe(false);
    expect(openai.chatRequests).toHaveLength(4);
  });

  it("calls upstream in refresh mode and stores the new answer", async () => {
    const prompt = unique();
    openai.enqueue({ kind: "answer", deltas: ["old answer"] }, { kind: "answer", deltas: ["new answer"] });
    await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const refreshed = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.REFRESH }));
    expect(refreshed).toMatchObject({ text: "new answer", cached: false });
    const cached = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    expect(cached).toMatchObject({ text: "new answer", cached: true });
    expect(openai.chatRequests).toHaveLength(2);
  });

  it("replays a cached stream as its original deltas", async () => {
    const prompt = unique();
    const step = lockstep();
    openai.enqueue({ kind: "answer", deltas: ["The", " quick", " brown", " fox"], inputTokens: 5, outputTokens: 4, deltaGate: step.deltaGate });
    const live = await step.collect(llm.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    const replay = await collect(llm.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    expect(live.deltas).toEqual(["The", " quick", " brown", " fox"]);
    expect(replay.deltas).toEqual(live.deltas);
    expect(replay.done).toMatchObject({ cached: true, usage: { inputTokens: 5, outputTokens: 4 } });
    expect(live.done?.cached).toBe(false);
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("replays the upstream deltas from the cache even when they were merged on the way live", async () => {
    const prompt = unique();
    const upstream = Array.from({ length: 50 }, (_, i) => `w${i} `);
    openai.enqueue({ kind: "answer", deltas: upstream });
    const live = await collect(llm.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    const replay = await collect(llm.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    expect(live.deltas.join("")).toBe(upstream.join(""));
    expect(replay.deltas).toEqual(upstream);
  });

  it("does not cache a stream that broke mid-way", async () => {
    const prompt = unique();
    openai.enqueue({ kind: "break", deltas: ["half"] });
    await failure(() => collect(llm.client.generateStream(streamRequest("solo", { prompt, cacheMode: CacheMode.USE }))));
    const again = await collect(llm.client.generateStream(streamRequest("solo", { prompt, cacheMode: CacheMode.USE })));
    expect(again.done?.cached).toBe(false);
    expect(openai.chatRequests).toHaveLength(2);
  });
});

describe("single flight", () => {
  it("makes one upstream call for ten identical concurrent requests", async () => {
    const prompt = unique();
    const g = gate();
    openai.enqueue({ kind: "answer", deltas: ["shared"], gate: g.promise });
    // REFRESH skips the cache read, so only single flight can merge the calls.
    const calls = Array.from({ length: 10 }, () => llm.client.generate(request("solo", { prompt, cacheMode: CacheMode.REFRESH })));
    await untilInFlight("solo", 10);
    g.open();
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.text)).toEqual(Array(10).fill("shared"));
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("streams one upstream answer to ten identical concurrent streams", async () => {
    const prompt = unique();
    const g = gate();
    openai.enqueue({ kind: "answer", deltas: ["a", "b", "c"], gate: g.promise });
    const calls = Array.from({ length: 10 }, () => collect(llm.client.generateStream(streamRequest("solo", { prompt, cacheMode: CacheMode.REFRESH }))));
    await untilInFlight("solo", 10);
    g.open();
    const results = await Promise.all(calls);
    for (const r of results) expect(r.deltas.join("")).toBe("abc");
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("does not merge requests in bypass mode", async () => {
    const prompt = unique();
    const g = gate();
    openai.fallback = { kind: "answer", gate: g.promise };
    const calls = Array.from({ length: 3 }, () => llm.client.generate(request("solo", { prompt, cacheMode: CacheMode.BYPASS })));
    await openai.until(() => openai.chatRequests.length === 3);
    g.open();
    await Promise.all(calls);
    expect(openai.chatRequests).toHaveLength(3);
  });
});

describe("retries and fallbacks", () => {
  it("retries 5xx and 429 responses, then succeeds", async () => {
    openai.enqueue({ kind: "error", status: 503 }, { kind: "error", status: 429, headers: { "retry-after": "0" } }, { kind: "answer", deltas: ["third time"] });
    const res = await llm.client.generate(request("solo"));
    expect(res.text).toBe("third time");
    expect(openai.chatRequests).toHaveLength(3);
  });

  it("answers RESOURCE_EXHAUSTED when upstream still rate-limits after the last attempt", async () => {
    openai.fallback = { kind: "error", status: 429, message: "slow down", headers: { "retry-after": "0" } };
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo"))));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(openai.chatRequests).toHaveLength(fastRetry.maxAttempts);
  });

  it("answers UNAVAILABLE when upstream keeps failing with 5xx", async () => {
    openai.fallback = { kind: "error", status: 502 };
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo"))));
    expect(err.code).toBe(Code.Unavailable);
    expect(openai.chatRequests).toHaveLength(fastRetry.maxAttempts);
  });

  it("stops retrying when Retry-After reaches past the call's deadline", async () => {
    openai.fallback = { kind: "error", status: 429, headers: { "retry-after": "20" } };
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo"), { timeoutMs: 10_000 })));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("does not retry a request upstream rejected as bad", async () => {
    openai.enqueue({ kind: "error", status: 400, message: "max_tokens is too large" });
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo"))));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("max_tokens is too large");
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("falls back to the next model when the first keeps failing", async () => {
    openai.fallback = { kind: "error", status: 503 };
    anthropic.enqueue({ kind: "answer", deltas: ["from the fallback"] });
    const res = await llm.client.generate(request("gpt-test"));
    expect(res).toMatchObject({ text: "from the fallback", model: "claude-test", provider: "anthropic", upstreamModel: "claude-upstream" });
    expect(openai.chatRequests).toHaveLength(fastRetry.maxAttempts);
  });

  it("falls back in a stream when the first model fails before any token", async () => {
    openai.fallback = { kind: "error", status: 500 };
    anthropic.enqueue({ kind: "answer", deltas: ["fall", "back"] });
    const { deltas, done } = await collect(llm.client.generateStream(streamRequest("gpt-test")));
    expect(deltas.join("")).toBe("fallback");
    expect(done?.model).toBe("claude-test");
  });

  it("does not fall back once a token has been streamed", async () => {
    openai.enqueue({ kind: "break", deltas: ["already sent"] });
    const seen: string[] = [];
    const err = await failure(async () => {
      for await (const m of llm.client.generateStream(streamRequest("gpt-test"))) if (m.event.case === "textDelta") seen.push(m.event.value);
    });
    expect(ConnectError.from(err).code).toBe(Code.Unavailable);
    expect(seen).toEqual(["already sent"]);
    expect(anthropic.chatRequests).toHaveLength(0);
    expect(openai.chatRequests).toHaveLength(1);
  });
});

describe("cancellation, deadlines and limits", () => {
  it("aborts the upstream request when the client cancels a stream", async () => {
    openai.fallback = { kind: "hang" };
    const abort = new AbortController();
    const call = collect(llm.client.generateStream(streamRequest("solo"), { signal: abort.signal }));
    await openai.until(() => openai.chatRequests.length === 1);
    abort.abort();
    expect(ConnectError.from(await failure(() => call)).code).toBe(Code.Canceled);
    await openai.until(() => openai.clientAborts === 1);
    expect(openai.clientAborts).toBe(1);
  });

  it("aborts the upstream stream when the client cancels after the first token", async () => {
    openai.enqueue({ kind: "answer", deltas: ["first", "second", "third"], deltaDelayMs: 60_000 });
    openai.enqueue({ kind: "answer", deltas: ["first", "second", "third"] });
    const abort = new AbortController();
    const err = await failure(async () => {
      for await (const m of llm.client.generateStream(streamRequest("solo"), { signal: abort.signal })) {
        if (m.event.case === "textDelta") abort.abort();
      }
    });
    expect(ConnectError.from(err).code).toBe(Code.Canceled);
    await openai.until(() => openai.clientAborts === 1);
  });

  it("answers DEADLINE_EXCEEDED and aborts upstream when the deadline passes", async () => {
    openai.fallback = { kind: "hang" };
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo"), { timeoutMs: 300 })));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await openai.until(() => openai.clientAborts === 1);
  });

  it("queues calls beyond the provider's concurrency and rejects them when the queue is full", async () => {
    const g = gate();
    openai.fallback = { kind: "answer", gate: g.promise };
    const first = llm.client.generate(request("narrow-model", { prompt: unique() }));
    const queued = llm.client.generate(request("narrow-model", { prompt: unique() }));
    await untilInFlight("narrow-model", 2);
    const err = ConnectError.from(await failure(() => llm.client.generate(request("narrow-model", { prompt: unique() }))));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(openai.chatRequests).toHaveLength(1);
    g.open();
    await Promise.all([first, queued]);
    expect(openai.chatRequests).toHaveLength(2);
  });
});

describe("limits and fallbacks", () => {
  it("hands a call to the fallback model when the provider's queue is full", async () => {
    const g = gate();
    openai.fallback = { kind: "answer", gate: g.promise };
    const first = llm.client.generate(request("narrow-model", { prompt: unique() }));
    const queued = llm.client.generate(request("narrow-model", { prompt: unique() }));
    await untilInFlight("narrow-model", 2);
    anthropic.enqueue({ kind: "answer", deltas: ["overflow served"] });
    const res = await llm.client.generate(request("narrow-or-claude", { prompt: unique() }));
    expect(res).toMatchObject({ text: "overflow served", model: "claude-test" });
    g.open();
    await Promise.all([first, queued]);
  });
});

describe("errors", () => {
  it("answers FAILED_PRECONDITION naming the provider when upstream rejects the key, without echoing it", async () => {
    const err = ConnectError.from(await failure(() => llm.client.generate(request("locked"))));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("wrongkey");
    expect(err.rawMessage).not.toContain("sk-wrong");
    expect(err.rawMessage).not.toContain("0123456789");
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("answers NOT_FOUND listing the known models for an unknown model", async () => {
    const err = ConnectError.from(await failure(() => llm.client.generate(request("no-such-model"))));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toContain("gpt-test");
    expect(err.rawMessage).toContain("claude-test");
  });

  it.each([
    ["temperature above 2", { temperature: 2.5 }, "temperature"],
    ["top_p of 0", { topP: 0 }, "top_p"],
    ["max_tokens of 0", { maxTokens: 0 }, "max_tokens"],
    ["an empty stop sequence", { stop: [""] }, "stop[0]"],
    ["neither prompt nor messages", { prompt: "" }, "messages or prompt"],
  ])("answers INVALID_ARGUMENT for %s", async (_name, init, field) => {
    const err = ConnectError.from(await failure(() => llm.client.generate(request("solo", init))));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain(field);
    expect(openai.chatRequests).toHaveLength(0);
  });
});

describe("bounds", () => {
  it("evicts the least recently used answer past maxEntries and expires answers after the TTL", async () => {
    const bounded = await startLlmServer({
      providers: { openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl } },
      models: [{ id: "small-cache", provider: "openai" }],
      cache: { maxEntries: 2, ttlMs: 2_000 },
    });
    try {
      const ask = (prompt: string) => bounded.client.generate(request("small-cache", { prompt, cacheMode: CacheMode.USE }));
      await ask("one");
      await ask("two");
      await ask("three"); // evicts "one"
      expect((await ask("three")).cached).toBe(true);
      expect((await ask("one")).cached).toBe(false);
      await new Promise((r) => setTimeout(r, 2_100));
      expect((await ask("one")).cached).toBe(false);
    } finally {
      await bounded.close();
    }
  });

  it("retries an attempt that outlives the provider's timeout", async () => {
    const impatient = await startLlmServer({
      providers: { openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl, timeoutMs: 1_000 } },
      models: [{ id: "impatient", provider: "openai" }],
      retry: fastRetry,
    });
    try {
      openai.enqueue({ kind: "hang" }, { kind: "answer", deltas: ["second try"] });
      const res = await impatient.client.generate(request("impatient"));
      expect(res.text).toBe("second try");
      expect(openai.chatRequests).toHaveLength(2);
      await openai.until(() => openai.clientAborts === 1);
    } finally {
      await impatient.close();
    }
  });
});

describe("metrics", () => {
  it("reports requests, tokens, cache hits and misses, and errors by code per model", async () => {
    const metricsServer = await startLlmServer({
      providers: { openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl } },
      models: [{ id: "counted", provider: "openai" }],
      retry: { ...fastRetry, maxAttempts: 1 },
    });
    try {
      const prompt = unique();
      openai.enqueue({ kind: "answer", inputTokens: 10, outputTokens: 5 });
      await metricsServer.client.generate(request("counted", { prompt, cacheMode: CacheMode.USE }));
      await metricsServer.client.generate(request("counted", { prompt, cacheMode: CacheMode.USE }));
      openai.enqueue({ kind: "answer", inputTokens: 3, outputTokens: 2 });
      await collect(metricsServer.client.generateStream(streamRequest("counted")));
      openai.enqueue({ kind: "error", status: 503 });
      await failure(() => metricsServer.client.generate(request("counted")));
      // A stream the client cancels after its first token (upstream never sends the second).
      openai.enqueue({ kind: "answer", deltas: ["one", "two"], deltaGate: () => new Promise<void>(() => {}) });
      const abort = new AbortController();
      await failure(async () => {
        for await (const _ of metricsServer.client.generateStream(streamRequest("counted"), { signal: abort.signal })) abort.abort();
      });
      const settled = async () => (await metricsServer.client.getMetrics({ model: "counted" })).models[0];
      while ((await settled()).inFlight > 0n) await new Promise((r) => setTimeout(r, 5));

      const { models } = await metricsServer.client.getMetrics({});
      expect(models).toHaveLength(1);
      const m = models[0];
      expect(m).toMatchObject({ model: "counted", provider: "openai", requests: 5n, errors: 2n, inputTokens: 13n, outputTokens: 7n, cacheHits: 1n, cacheMisses: 1n, inFlight: 0n });
      expect(m.errorsByCode).toEqual({ unavailable: 1n, canceled: 1n });
      expect(m.latency?.count).toBe(5n);
      expect(m.timeToFirstToken?.count).toBe(2n);

      const text = await (await fetch(`${metricsServer.server.baseUrl}/metrics`)).text();
      expect(text).toMatch(/openloop_llm_requests_total\{model="counted",provider="openai"\} 5/);
      expect(text).toMatch(/openloop_llm_input_tokens_total\{model="counted",provider="openai"\} 13/);
      expect(text).toMatch(/openloop_llm_errors_total\{model="counted",provider="openai",code="unavailable"\} 1/);
    } finally {
      await metricsServer.close();
    }
  });
});
