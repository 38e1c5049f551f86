// The response cache in a real Redis, shared by two replicas of the server.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CacheMode } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { startRedis } from "../support/redis.js";
import { collect, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";

const redisUrl = process.env.OPENLOOP_TEST_REDIS_URL;
let openai: FakeLlmServer;
let replicaA: LlmServer;
let replicaB: LlmServer;

beforeAll(async () => {
  if (!redisUrl) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (the vitest global setup starts a Redis)");
  openai = await startFakeOpenAI();
  const llm = {
    providers: { openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl } },
    models: [{ id: "gpt-test", provider: "openai" }],
    cache: { backend: "redis", ttlMs: 60_000 },
  };
  replicaA = await startLlmServer(llm, { redis: { url: redisUrl } });
  replicaB = await startLlmServer(llm, { redis: { url: redisUrl } });
});

afterAll(async () => {
  await replicaA?.close();
  await replicaB?.close();
  await openai?.close();
});

beforeEach(() => openai.reset());

const unique = () => `redis question ${randomUUID()}`;

describe("redis cache", () => {
  it("answers a replica from the entry another replica stored", async () => {
    const prompt = unique();
    const first = await replicaA.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const second = await replicaB.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    expect(first.cached).toBe(false);
    expect(second).toMatchObject({ cached: true, text: first.text, usage: first.usage });
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("replays a stream on another replica as its original deltas", async () => {
    const prompt = unique();
    openai.enqueue({ kind: "answer", deltas: ["red", "is", "shared"] });
    await collect(replicaA.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    const replay = await collect(replicaB.client.generateStream(streamRequest("gpt-test", { prompt, cacheMode: CacheMode.USE })));
    expect(replay.deltas).toEqual(["red", "is", "shared"]);
    expect(replay.done?.cached).toBe(true);
    expect(openai.chatRequests).toHaveLength(1);
  });

  it("skips the shared entry in bypass mode and leaves it unchanged", async () => {
    const prompt = unique();
    openai.enqueue({ kind: "answer", deltas: ["kept"] }, { kind: "answer", deltas: ["not stored"] });
    await replicaA.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    const bypassed = await replicaB.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.BYPASS }));
    expect(bypassed).toMatchObject({ text: "not stored", cached: false });
    const cached = await replicaA.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    expect(cached).toMatchObject({ text: "kept", cached: true });
  });

  it("replaces the shared entry in refresh mode, for every replica", async () => {
    const prompt = unique();
    openai.enqueue({ kind: "answer", deltas: ["before"] }, { kind: "answer", deltas: ["after"] });
    await replicaA.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    await replicaB.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.REFRESH }));
    const cached = await replicaA.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
    expect(cached).toMatchObject({ text: "after", cached: true });
    expect(openai.chatRequests).toHaveLength(2);
  });
});

describe("redis outage", () => {
  it("keeps answering from upstream, uncached, while Redis is down", async () => {
    const redis = await startRedis();
    try {
      const llm = await startLlmServer(
        {
          providers: { openai: { kind: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl } },
          models: [{ id: "gpt-test", provider: "openai" }],
          cache: { backend: "redis" },
        },
        { redis: { url: redis.url } },
      );
      try {
        const prompt = unique();
        await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
        expect((await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }))).cached).toBe(true);
        await redis.stop();
        const during = await llm.client.generate(request("gpt-test", { prompt, cacheMode: CacheMode.USE }));
        expect(during).toMatchObject({ cached: false, text: "Hello, world!" });
      } finally {
        await llm.close();
      }
    } finally {
      await redis.stop();
    }
  });
});
