// API keys' limits hold across replicas when they share a Redis (issue #14, item 5): three
// openloop processes, called over grpc-js, Connect and gRPC-Web in turn, admit a key's burst once
// in all, not once each, and its concurrent streams are counted across all three. Below, the
// RedisRateLimiter itself: one bucket for every limiter on a prefix, a dead replica's stream
// slots coming back, and limits per replica while Redis is unreachable.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { bearer } from "../support/bearer.js";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { Registry } from "prom-client";
import { Auth } from "../../src/platform/auth.js";
import { RedisRateLimiter } from "../../src/platform/redis-rate-limit.js";
import { DEFAULT_REDIS_POLICY } from "../../src/platform/redis.js";
import { createGrpcJsTransport } from "../support/grpc-js-transport.js";
import { freePort } from "../support/redis.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { collect, streamRequest } from "../llm/helpers.js";

const redisUrl = () => {
  const url = process.env.OPENLOOP_TEST_REDIS_URL;
  if (!url) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (test/support/global-setup.ts starts a Redis)");
  return url;
};

async function errorOf(p: Promise<unknown>): Promise<ConnectError | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

describe("API key limits across three replicas sharing a Redis", () => {
  // Names of this run's own: the keys' budgets live in the run's Redis under their names.
  const run = randomUUID().slice(0, 8);
  const RATE_KEY = `rate-limited-key-${run}-0123456789`;
  const STREAM_KEY = `stream-limited-key-${run}-0123456789`;
  let upstream: FakeLlmServer;
  let replicas: SpawnedServer[] = [];
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    const config = {
      redis: { url: redisUrl() },
      server: {
        apiKeys: [
          // 20 s a request after a burst of 5: no refill while the test runs.
          { name: `rate-${run}`, key: RATE_KEY, scopes: ["features:read"], limits: { requestsPerSecond: 0.05, burst: 5 } },
          { name: `streams-${run}`, key: STREAM_KEY, scopes: ["llm:generate"], limits: { concurrentStreams: 2 } },
        ],
      },
      llm: {
        providers: { up: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } },
        models: [{ id: "m", provider: "up", upstreamModel: "fake-model-a" }],
        cache: { enabled: false },
        retry: { maxAttempts: 1 },
      },
    };
    replicas = await Promise.all([0, 1, 2].map(() => spawnServer({ config })));
  }, 120_000);

  afterAll(async () => {
    for (const close of closers) close();
    await Promise.all(replicas.map((r) => r.stop()));
    await upstream?.close();
  });

  /** Replica i over one transport each: grpc-js, Connect, gRPC-Web. */
  function transport(i: number, key: string): Transport {
    const r = replicas[i]!;
    if (i === 0) {
      const t = createGrpcJsTransport(`127.0.0.1:${r.port}`, { apiKey: key });
      closers.push(() => t.close());
      return t;
    }
    if (i === 1) return createConnectTransport({ baseUrl: r.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
    return createGrpcWebTransport({ baseUrl: r.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
  }

  it("admits a key's burst once across the replicas, and refuses the rest with RetryInfo", async () => {
    const clients = [0, 1, 2].map((i) => createClient(FeatureService, transport(i, RATE_KEY)));
    const outcomes: (ConnectError | undefined)[] = [];
    for (let i = 0; i < 15; i++) outcomes.push(await errorOf(clients[i % 3]!.listFeatureSets({})));
    expect(outcomes.slice(0, 5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const refused = outcomes.slice(5);
    for (const err of refused) {
      expect(err?.code, err?.message).toBe(Code.ResourceExhausted);
      expect(err!.rawMessage).toMatch(new RegExp(`^API key 'rate-${run}' is over its rate of 0.05 requests/s; retry in \\d+ ms$`));
      const [info] = err!.findDetails(RetryInfoSchema);
      expect(Number(info!.retryDelay!.seconds)).toBeGreaterThan(10);
    }
  });

  it("counts a key's open streams across the replicas, and frees a slot when a stream ends", async () => {
    let open!: () => void;
    upstream.fallback = { kind: "answer", gate: new Promise<void>((resolve) => (open = resolve)) };
    const clients = [0, 1, 2].map((i) => createClient(LLMService, transport(i, STREAM_KEY)));
    const first = collect(clients[0]!.generateStream(streamRequest("m"), { timeoutMs: 30_000 }));
    const second = collect(clients[1]!.generateStream(streamRequest("m"), { timeoutMs: 30_000 }));
    // Both streams hold their slots once their calls are upstream.
    await upstream.until(() => upstream.inFlight === 2);
    const third = await errorOf(collect(clients[2]!.generateStream(streamRequest("m"))));
    expect(third?.code, third?.message).toBe(Code.ResourceExhausted);
    expect(third!.rawMessage).toMatch(new RegExp(`^API key 'streams-${run}' has 2 streams open, its limit`));
    upstream.fallback = { kind: "answer" };
    open();
    expect((await first).done).toBeDefined();
    expect((await second).done).toBeDefined();
    // The slots go back as the calls end; the next stream through the third replica gets one.
    let again: ConnectError | undefined = new ConnectError("not tried");
    for (let tries = 0; again && tries < 50; tries++) {
      again = await errorOf(collect(clients[2]!.generateStream(streamRequest("m"))));
      if (again) await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toBeUndefined();
  });
});

describe("RedisRateLimiter", () => {
  const log = pino({ level: "silent" });
  const open = (keyPrefix: string, url = redisUrl(), leaseTtlMs = 5_000) =>
    RedisRateLimiter.open({ url, policy: DEFAULT_REDIS_POLICY, keyPrefix, leaseTtlMs, log, name: "test limits" });
  const prefix = () => `openloop:test-limits-${randomUUID().slice(0, 8)}:`;
  const rate = { perSecond: 0.01, burst: 3 };

  it("keeps one bucket for every limiter on the prefix, and takes corrections from any of them", async () => {
    const keyPrefix = prefix();
    const [a, b] = await Promise.all([open(keyPrefix), open(keyPrefix)]);
    try {
      expect([await a.take("k", rate), await b.take("k", rate), await a.take("k", rate)]).toEqual([0, 0, 0]);
      const wait = await b.take("k", rate);
      // One token at 0.01 a second: about 100 s.
      expect(wait).toBeGreaterThan(90_000);
      expect(wait).toBeLessThanOrEqual(100_000);
      expect(await a.take("other", rate, 3)).toBe(0);
      a.charge("k", rate, -1);
      await expect.poll(() => b.take("k", rate)).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("frees the stream slots of a replica that died once their leases expire", async () => {
    const keyPrefix = prefix();
    const dying = await open(keyPrefix, redisUrl(), 600);
    const alive = await open(keyPrefix, redisUrl(), 600);
    try {
      expect(await dying.openStream("k", 1)).toBeTypeOf("function");
      expect(await alive.openStream("k", 1)).toBeUndefined();
      // Renewed while the holder lives (the TTL is 600 ms).
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await alive.openStream("k", 1)).toBeUndefined();
      // Dies without giving its slot back: no release, no more renewals.
      const internals = dying as unknown as { renewTimer: NodeJS.Timeout; redis: { disconnect(): void } };
      clearInterval(internals.renewTimer);
      internals.redis.disconnect();
      await expect.poll(() => alive.openStream("k", 1), { timeout: 5_000, interval: 100 }).toBeTypeOf("function");
    } finally {
      await alive.close();
    }
  });

  it("is asked nothing for a key without limits: the gate admits it synchronously, and a limited key after one Redis call", async () => {
    const limiter = await open(prefix());
    try {
      const auth = new Auth({
        keys: [
          { name: "free", key: "free-key-0123456789", scopes: ["admin"] },
          { name: "limited", key: "limited-key-0123456789", scopes: ["admin"], limits: { requestsPerSecond: 1, concurrentStreams: 1 } },
        ],
        limiter,
        metrics: new Registry(),
        log,
      });
      const gate = auth.gate()!;
      expect(gate(FeatureService.method.listFeatureSets, "Bearer free-key-0123456789")).toBeUndefined();
      expect(gate(LLMService.method.generateStream, "Bearer free-key-0123456789")).toBeUndefined();
      const limited = gate(LLMService.method.generateStream, "Bearer limited-key-0123456789");
      expect(limited).toBeInstanceOf(Promise);
      const release = await limited;
      expect(release).toBeTypeOf("function");
      release!();
    } finally {
      await limiter.close();
    }
  });

  it("limits per replica while Redis is unreachable, instead of failing calls", async () => {
    const limiter = await open(prefix(), `redis://127.0.0.1:${await freePort()}`);
    try {
      expect(await limiter.take("k", { perSecond: 0.01, burst: 1 })).toBe(0);
      expect(await limiter.take("k", { perSecond: 0.01, burst: 1 })).toBeGreaterThan(0);
      const close = await limiter.openStream("k", 1);
      expect(close).toBeTypeOf("function");
      expect(await limiter.openStream("k", 1)).toBeUndefined();
      close!();
      expect(await limiter.openStream("k", 1)).toBeTypeOf("function");
    } finally {
      await limiter.close();
    }
  });
});
