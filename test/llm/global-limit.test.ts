// Provider concurrency limits hold across replicas through Redis (issue #14, item 5): three
// openloop processes with a global limit of 4 calls to a slow upstream never have more than 4 in
// flight there, however the calls spread; and a replica that dies holding slots gives them back
// when its leases expire.
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLimits } from "../../src/llm/redis-limiter.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { freePort } from "../support/redis.js";
import { request, startLlmReplicas, stopLlmReplicas, type LlmReplica } from "./helpers.js";

const redisUrl = () => {
  const url = process.env.OPENLOOP_TEST_REDIS_URL;
  if (!url) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (test/support/global-setup.ts starts a Redis)");
  return url;
};

describe("global LLM concurrency limit across three replicas", () => {
  let upstream: FakeLlmServer;
  let replicas: LlmReplica[] = [];

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    // Slow enough that calls pile up behind the limit.
    upstream.fallback = { kind: "answer", delayMs: 150 };
    const config = {
      redis: { url: redisUrl() },
      llm: {
        providers: { slow: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl, maxConcurrency: 4, maxQueue: 100 } },
        models: [{ id: "slow-model", provider: "slow", upstreamModel: "fake-model-a" }],
        cache: { enabled: false },
        retry: { maxAttempts: 1 },
        // A key prefix of this test's own, so other tests on the run's Redis do not share the limit.
        limits: { scope: "global", redisKeyPrefix: `openloop:llm:limit:test-${randomUUID().slice(0, 8)}:` },
      },
    };
    replicas = await startLlmReplicas(config);
  }, 120_000);

  afterAll(async () => {
    await stopLlmReplicas(replicas);
    await upstream?.close();
  });

  it("keeps at most 4 calls in flight upstream, ever, and every call succeeds", async () => {
    const calls = 36;
    const answers = await Promise.all(
      Array.from({ length: calls }, (_, i) => replicas[i % 3]!.llm.generate(request("slow-model", { prompt: `question ${i}` }), { timeoutMs: 60_000 })),
    );
    expect(answers.map((a) => a.text)).toEqual(Array.from({ length: calls }, () => "Hello, world!"));
    expect(upstream.chatRequests).toHaveLength(calls);
    expect(upstream.maxInFlight, replicas.map((r) => r.server.output()).join("\n").split("\n").filter((l) => l.includes("limits")).join("\n")).toBeLessThanOrEqual(4);
    // The calls did overlap (a limit nobody reached would prove nothing): 12 were waiting per replica.
    expect(upstream.maxInFlight).toBeGreaterThan(1);
    for (const r of replicas) expect(r.server.logs.some((l) => l.msg === "llm gateway ready" && l.limits === "global")).toBe(true);
  });
});

describe("RedisLimits leases", () => {
  const log = pino({ level: "silent" });
  const limit = { maxConcurrency: 2, maxQueue: 10 };

  it("gives a dead replica's slots back once their leases expire, and queues in order meanwhile", async () => {
    const keyPrefix = `openloop:llm:limit:test-${randomUUID().slice(0, 8)}:`;
    const dying = await RedisLimits.open({ url: redisUrl(), keyPrefix, leaseTtlMs: 600, log });
    const alive = await RedisLimits.open({ url: redisUrl(), keyPrefix, leaseTtlMs: 600, pollMs: 50, log });
    const a = dying.factory("p", limit);
    const b = alive.factory("p", limit);
    try {
      const held = [await a.acquire(new AbortController().signal), await a.acquire(new AbortController().signal)];
      expect(held).toHaveLength(2);
      const order: number[] = [];
      const waiting = [1, 2].map((n) => Promise.resolve(b.acquire(new AbortController().signal)).then((release) => (order.push(n), release)));
      // Still held (renewed) while the holder lives.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(order).toEqual([]);
      expect(b.queued).toBe(2);
      // The holder dies without releasing: its renewals stop with its process.
      await killWithoutRelease(dying);
      const releases = await Promise.all(waiting);
      expect(order).toEqual([1, 2]);
      for (const r of releases) r();
    } finally {
      await alive.close();
    }
  });

  it("answers a full queue with QueueFullError and lets a cancelled waiter go", async () => {
    const keyPrefix = `openloop:llm:limit:test-${randomUUID().slice(0, 8)}:`;
    const limits = await RedisLimits.open({ url: redisUrl(), keyPrefix, leaseTtlMs: 5_000, pollMs: 50, log });
    const l = limits.factory("p", { maxConcurrency: 1, maxQueue: 1 });
    try {
      const first = await l.acquire(new AbortController().signal);
      const cancel = new AbortController();
      const queued = Promise.resolve(l.acquire(cancel.signal));
      await expect(l.acquire(new AbortController().signal)).rejects.toThrow(/queued/);
      cancel.abort(new Error("client went away"));
      await expect(queued).rejects.toThrow("client went away");
      first();
      const again = await l.acquire(new AbortController().signal);
      again();
    } finally {
      await limits.close();
    }
  });

  it("limits per replica while Redis is unreachable, instead of failing calls", async () => {
    const port = await freePort(); // nothing listens there
    const limits = await RedisLimits.open({ url: `redis://127.0.0.1:${port}`, keyPrefix: "openloop:llm:limit:test-down:", leaseTtlMs: 5_000, log });
    const l = limits.factory("p", { maxConcurrency: 1, maxQueue: 5 });
    try {
      const first = await l.acquire(new AbortController().signal);
      let second = false;
      const next = Promise.resolve(l.acquire(new AbortController().signal)).then((release) => ((second = true), release));
      await new Promise((r) => setTimeout(r, 100));
      expect(second).toBe(false); // the replica's own limit of 1 still holds
      first();
      (await next)();
      expect(second).toBe(true);
    } finally {
      await limits.close();
    }
  });
});

/** Stops a RedisLimits as a crash would: no release, no more renewals. */
async function killWithoutRelease(limits: RedisLimits): Promise<void> {
  const internals = limits as unknown as { renewTimer: NodeJS.Timeout; redis: { disconnect(): void }; subscriber: { disconnect(): void } };
  clearInterval(internals.renewTimer);
  internals.redis.disconnect();
  internals.subscriber.disconnect();
}
