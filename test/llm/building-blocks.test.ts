// The gateway's small parts on their own: keys, backoff, Retry-After, redaction, the limiter, flights.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Flight, type UpstreamAnswer } from "../../src/llm/flight.js";
import { SseParser, type SseEvent } from "../../src/llm/providers/http.js";
import { ConcurrencyLimiter, QueueFullError } from "../../src/llm/limiter.js";
import { cacheKey } from "../../src/llm/params.js";
import { canonicalJson } from "../../src/platform/canonical-json.js";
import { redact, retryAfterMs } from "../../src/llm/providers/errors.js";
import { backoffMs } from "../../src/llm/retry.js";

const policy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1_000, multiplier: 2, jitter: 0.5, maxRetryAfterMs: 30_000 };

describe("cache key", () => {
  it("writes JSON with sorted keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("hashes exactly the canonical JSON of the model, messages and parameters", () => {
    const messages = [
      { role: "system" as const, content: 'Be "exact".' },
      { role: "user" as const, content: "héllo\n" },
    ];
    for (const params of [{ stop: [] }, { maxTokens: 5, seed: 3, stop: ["a", "b"], temperature: 0.7, topP: 0.9 }, { stop: ["x"], topP: 1 }]) {
      const expected = createHash("sha256").update(canonicalJson({ model: "m/x", messages, params })).digest("hex");
      expect(cacheKey("m/x", messages, params)).toBe(expected);
    }
  });

  it("is the same for the same request whatever the key order, and differs for any change", () => {
    const messages = [{ role: "user" as const, content: "hi" }];
    const a = cacheKey("m", messages, { temperature: 0.5, maxTokens: 10, stop: [] });
    const b = cacheKey("m", messages, { stop: [], maxTokens: 10, temperature: 0.5 });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey("m", messages, { temperature: 0.5, maxTokens: 11, stop: [] })).not.toBe(a);
    expect(cacheKey("n", messages, { temperature: 0.5, maxTokens: 10, stop: [] })).not.toBe(a);
    expect(cacheKey("m", [{ role: "system", content: "hi" }], { temperature: 0.5, maxTokens: 10, stop: [] })).not.toBe(a);
  });
});

describe("backoff", () => {
  it("grows exponentially up to the maximum", () => {
    const noJitter = () => 0;
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, undefined, noJitter))).toEqual([100, 200, 400, 800, 1000]);
  });

  it("draws up to the jitter fraction off each delay", () => {
    expect(backoffMs(policy, 2, undefined, () => 1)).toBe(100);
    expect(backoffMs(policy, 2, undefined, () => 0.5)).toBe(150);
  });

  it("waits at least as long as Retry-After asks", () => {
    expect(backoffMs(policy, 1, 5_000, () => 0)).toBe(5_000);
  });
});

describe("Retry-After", () => {
  const headers = (h: Record<string, string>) => new Headers(h);
  it("reads seconds, milliseconds and HTTP dates", () => {
    expect(retryAfterMs(headers({ "retry-after": "2" }))).toBe(2_000);
    expect(retryAfterMs(headers({ "retry-after-ms": "250", "retry-after": "2" }))).toBe(250);
    const now = Date.parse("2026-11-25T12:00:00Z");
    expect(retryAfterMs(headers({ "retry-after": "Wed, 25 Nov 2026 12:00:03 GMT" }), now)).toBe(3_000);
    expect(retryAfterMs(headers({ "retry-after": "soon" }))).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
  });
});

describe("redaction", () => {
  it("removes the key and partially masked keys from upstream text", () => {
    const text = redact("Incorrect API key provided: sk-abc1************wxyz. Key sk-secret-value-1 was sent", "sk-secret-value-1");
    expect(text).not.toContain("sk-secret-value-1");
    expect(text).not.toContain("sk-abc1");
  });
});

describe("concurrency limiter", () => {
  it("hands slots out in arrival order and refuses calls past the queue", async () => {
    const limiter = new ConcurrencyLimiter(1, 2);
    const signal = new AbortController().signal;
    const release1 = await limiter.acquire(signal);
    const order: number[] = [];
    const second = Promise.resolve(limiter.acquire(signal)).then((r) => (order.push(2), r));
    const third = Promise.resolve(limiter.acquire(signal)).then((r) => (order.push(3), r));
    expect(() => limiter.acquire(signal)).toThrow(QueueFullError);
    release1();
    (await second)();
    (await third)();
    expect(order).toEqual([2, 3]);
    expect(limiter.inProgress).toBe(0);
  });

  it("drops a waiter whose call is cancelled", async () => {
    const limiter = new ConcurrencyLimiter(1, 1);
    const release = await limiter.acquire(new AbortController().signal);
    const abort = new AbortController();
    const waiting = limiter.acquire(abort.signal);
    abort.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(limiter.queued).toBe(0);
    release();
    expect(limiter.inProgress).toBe(0);
  });
});

describe("flight", () => {
  it("gives late readers every delta from the first, then the answer", async () => {
    const flight = new Flight();
    flight.delta("a");
    const read = (async () => {
      let text = "";
      let answer: UpstreamAnswer | undefined;
      for await (const batch of flight.read(new AbortController().signal, undefined)) {
        text += batch.text;
        answer ??= batch.answer;
      }
      return { text, answer };
    })();
    flight.delta("b");
    flight.complete(ANSWER);
    expect(await read).toEqual({ text: "ab", answer: ANSWER });
    expect(flight.allDeltas).toEqual(["a", "b"]);
  });

  it("hands deltas that arrived together to a reader as one batch", async () => {
    const flight = new Flight();
    const batches: string[] = [];
    const read = (async () => {
      for await (const batch of flight.read(new AbortController().signal, undefined)) if (batch.text) batches.push(batch.text);
    })();
    await new Promise((r) => setImmediate(r));
    flight.delta("one");
    flight.delta(" two");
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    flight.delta(" three");
    flight.complete(ANSWER);
    await read;
    expect(batches).toEqual(["one two", " three"]);
  });

  it("keeps no deltas once its one reader has them when it does not replay (cache bypass)", async () => {
    const flight = new Flight(false);
    const texts: string[] = [];
    const read = (async () => {
      for await (const batch of flight.read(new AbortController().signal, undefined)) texts.push(batch.text);
    })();
    flight.delta("a");
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(flight.allDeltas).toEqual([]);
    flight.delta("b");
    flight.fail(new Error("cut"));
    await expect(read).rejects.toThrow("cut");
    expect(texts.join("")).toBe("ab");
  });

  it("aborts upstream when the last reader leaves, not before", async () => {
    const flight = new Flight();
    const one = new AbortController();
    const two = new AbortController();
    const r1 = drain(flight, one.signal);
    const r2 = drain(flight, two.signal);
    await new Promise((r) => setImmediate(r));
    one.abort(new Error("first left"));
    await expect(r1).rejects.toThrow("first left");
    expect(flight.signal.aborted).toBe(false);
    two.abort(new Error("second left"));
    await expect(r2).rejects.toThrow("second left");
    expect(flight.signal.aborted).toBe(true);
  });

  it("bounds retries by the latest reader deadline", async () => {
    const flight = new Flight();
    const signal = new AbortController().signal;
    void drain(flight, signal, 1_000);
    void drain(flight, signal, 5_000);
    await new Promise((r) => setImmediate(r));
    expect(flight.deadline()).toBe(5_000);
    void drain(flight, signal, undefined);
    await new Promise((r) => setImmediate(r));
    expect(flight.deadline()).toBeUndefined();
    flight.complete(ANSWER);
  });
});

const ANSWER: UpstreamAnswer = { text: "", finishReason: "stop", usage: { inputTokens: 1, outputTokens: 2 }, model: "m", provider: "p", upstreamModel: "u" };

async function drain(flight: Flight, signal: AbortSignal, deadline?: number): Promise<void> {
  for await (const _ of flight.read(signal, deadline));
}

describe("SseParser", () => {
  const events = (chunks: string[]) => {
    const seen: SseEvent[] = [];
    const parser = new SseParser((e) => seen.push(e));
    for (const c of chunks) parser.feed(new TextEncoder().encode(c));
    parser.end();
    return seen;
  };
  const wire = ': comment\r\ndata: {"a":1}\r\n\r\nevent: error\ndata:line one\ndata: line two\n\ndata: ünï ✓\r\rdata: [DONE]';
  const expected: SseEvent[] = [
    { event: null, data: '{"a":1}' },
    { event: "error", data: "line one\nline two" },
    { event: null, data: "ünï ✓" },
    { event: null, data: "[DONE]" },
  ];

  it("reads LF, CRLF and CR line ends, comments, several data lines and a last event without its blank line", () => {
    expect(events([wire])).toEqual(expected);
  });

  it("reads the same events however the bytes are split", () => {
    const bytes = new TextEncoder().encode(wire);
    const seen: SseEvent[] = [];
    const parser = new SseParser((e) => seen.push(e));
    for (let i = 0; i < bytes.length; i++) parser.feed(bytes.subarray(i, i + 1));
    parser.end();
    expect(seen).toEqual(expected);
  });
});
