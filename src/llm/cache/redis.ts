// Response cache in Redis, shared by every replica; entries expire after the TTL
// (Redis's own maxmemory policy bounds the total size).
import type { Redis } from "ioredis";
import { createRedisClient, DEFAULT_REDIS_POLICY, RedisProbe, type RedisClientPolicy } from "../../platform/redis.js";
import type { Logger } from "pino";
import { isCachedAnswer, type CachedAnswer, type ResponseCache } from "./cache.js";

const PREFIX = "openloop:llm:cache:v1:";

export class RedisResponseCache implements ResponseCache {
  private readonly redis: Redis;
  /** Whether the cache's Redis answers (health reports it; calls are served either way). */
  readonly probe: RedisProbe;

  private constructor(
    url: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
    policy: RedisClientPolicy,
  ) {
    // A cache that is down must not stall calls: the one fail-fast policy.
    this.redis = createRedisClient(url, policy, { lazyConnect: true });
    this.redis.on("error", (err: Error) => this.log.warn({ err: err.message }, "llm cache: redis error"));
    this.probe = new RedisProbe(this.redis, policy.commandTimeoutMs);
  }

  /** Connects before the first call; an unreachable Redis is logged and retried in the background. */
  static async open(url: string, ttlMs: number, log: Logger, policy: RedisClientPolicy = DEFAULT_REDIS_POLICY): Promise<RedisResponseCache> {
    const cache = new RedisResponseCache(url, ttlMs, log, policy);
    try {
      await cache.redis.connect();
    } catch (err) {
      log.warn({ err: (err as Error).message }, "llm cache: redis not reachable at start; answers are not cached until it is");
    }
    return cache;
  }

  /** A failing Redis is a miss, never a failed call. */
  async get(key: string): Promise<CachedAnswer | undefined> {
    try {
      const text = await this.redis.get(PREFIX + key);
      if (text === null) return undefined;
      const value: unknown = JSON.parse(text);
      return isCachedAnswer(value) ? value : undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "llm cache: read failed; calling upstream");
      return undefined;
    }
  }

  async set(key: string, answer: CachedAnswer): Promise<void> {
    try {
      await this.redis.set(PREFIX + key, JSON.stringify(answer), "PX", this.ttlMs);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "llm cache: write failed");
    }
  }

  async close(): Promise<void> {
    this.probe.close();
    this.redis.disconnect();
  }
}
