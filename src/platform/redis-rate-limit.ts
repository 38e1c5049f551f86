// Rate limits kept in a Redis every replica shares, so that N replicas allow what one would:
// token buckets as one Lua script each call (the arithmetic of takeFromBucket, on Redis's clock),
// and open streams as leases (redis-leases.ts) that a dead replica stops renewing.
//
// Why async and not a local share of the budget: a share per replica needs to know how many
// replicas there are, and a key's calls rarely spread evenly behind a load balancer, so shares
// either refuse calls the global budget would admit or let through more than it. One script call
// (about 0.1 ms on a local network) is exact; and it is paid only by calls whose key has limits,
// since the auth gate asks nothing for the others (both transports' gates and the OpenAI API
// await it only when it answers with a promise).
//
// While Redis is unreachable each replica falls back to its own MemoryRateLimiter: calls keep
// being served, and limits are per replica until Redis answers again.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { createRedisClient, type RedisClientPolicy } from "./redis.js";
import { ACQUIRE_LEASE, RELEASE_LEASE, RENEW_LEASES } from "./redis-leases.js";
import { MemoryRateLimiter, type RateLimiter, type RequestRate, type StreamRelease } from "./rate-limit.js";

// KEYS[1] bucket; ARGV: perSecond, burst, cost, force ('1': take without asking). 0 when taken, else ms to wait.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local need = math.min(cost, burst)
if ARGV[4] == '1' or tokens >= need then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
  return 0
end
return math.ceil((need - tokens) / rate * 1000)`;

type ScriptClient = Redis & {
  bucketTake(key: string, perSecond: number, burst: number, cost: number, force: "0" | "1"): Promise<number>;
  leaseAcquire(key: string, id: string, limit: number, ttlMs: number): Promise<number>;
  leaseRenew(key: string, ttlMs: number, ...ids: string[]): Promise<number>;
  leaseRelease(key: string, id: string, channel: string, message: string): Promise<number>;
};

export interface RedisRateLimiterOptions {
  readonly url: string;
  /** The server's Redis client policy (`redis.commandTimeoutMs` / `connectTimeoutMs`). */
  readonly policy: RedisClientPolicy;
  /** Prefix of every key: limiters with the same prefix share their budgets. */
  readonly keyPrefix: string;
  /** A stream slot held by a replica that died is free again after this long, in milliseconds. */
  readonly leaseTtlMs: number;
  readonly log: Logger;
  /** What the logs call these limits ("API key limits", "llm rate limits"). */
  readonly name: string;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: ScriptClient;
  private readonly local = new MemoryRateLimiter();
  /** Stream leases this process holds, by Redis key. */
  private readonly held = new Map<string, Set<string>>();
  private readonly renewTimer: NodeJS.Timeout;
  private degraded = false;

  /** Connects before the first call; an unreachable Redis is logged, and limits are per replica until it answers. */
  static async open(options: RedisRateLimiterOptions): Promise<RedisRateLimiter> {
    const limiter = new RedisRateLimiter(options);
    try {
      await limiter.redis.connect();
    } catch (err) {
      options.log.warn({ err: (err as Error).message }, `${options.name}: redis not reachable at start; limiting per replica until it is`);
    }
    return limiter;
  }

  private constructor(private readonly options: RedisRateLimiterOptions) {
    this.redis = createRedisClient(options.url, options.policy, { lazyConnect: true }) as ScriptClient;
    this.redis.defineCommand("bucketTake", { numberOfKeys: 1, lua: TAKE });
    this.redis.defineCommand("leaseAcquire", { numberOfKeys: 1, lua: ACQUIRE_LEASE });
    this.redis.defineCommand("leaseRenew", { numberOfKeys: 1, lua: RENEW_LEASES });
    this.redis.defineCommand("leaseRelease", { numberOfKeys: 1, lua: RELEASE_LEASE });
    this.redis.on("error", (err: Error) => options.log.debug({ err: err.message }, `${options.name}: redis error`));
    // A third of the TTL: two renewals can fail before a live stream's lease runs out.
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(options.leaseTtlMs / 3)));
    this.renewTimer.unref();
  }

  take(key: string, rate: RequestRate, cost = 1): number | Promise<number> {
    if (this.redis.status !== "ready") return this.fallback(undefined).take(key, rate, cost);
    return this.redis.bucketTake(this.options.keyPrefix + "rate:" + key, rate.perSecond, rate.burst, cost, "0").then(
      (wait) => this.up(wait),
      (err: unknown) => this.fallback(err).take(key, rate, cost),
    );
  }

  charge(key: string, rate: RequestRate, cost: number): void {
    if (this.redis.status !== "ready") return this.fallback(undefined).charge(key, rate, cost);
    this.redis.bucketTake(this.options.keyPrefix + "rate:" + key, rate.perSecond, rate.burst, cost, "1").catch((err: unknown) => this.fallback(err).charge(key, rate, cost));
  }

  openStream(key: string, max: number): StreamRelease | undefined | Promise<StreamRelease | undefined> {
    if (this.redis.status !== "ready") return this.fallback(undefined).openStream(key, max);
    const redisKey = this.options.keyPrefix + "streams:" + key;
    const id = randomUUID();
    return this.redis.leaseAcquire(redisKey, id, max, this.options.leaseTtlMs).then(
      (taken) => {
        this.up(0);
        if (taken !== 1) return undefined;
        let ids = this.held.get(redisKey);
        if (!ids) this.held.set(redisKey, (ids = new Set()));
        ids.add(id);
        let closed = false;
        return () => {
          if (closed) return;
          closed = true;
          this.held.get(redisKey)?.delete(id);
          // A failed release is harmless: the lease expires after leaseTtlMs.
          this.redis.leaseRelease(redisKey, id, "", "").catch(() => undefined);
        };
      },
      (err: unknown) => this.fallback(err).openStream(key, max),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    // Slots still held go back now rather than after their TTL.
    const releases = [...this.held].flatMap(([key, ids]) => [...ids].map((id) => this.redis.leaseRelease(key, id, "", "").catch(() => undefined)));
    this.held.clear();
    await Promise.all(releases);
    this.redis.disconnect();
  }

  private async renew(): Promise<void> {
    for (const [key, ids] of this.held) {
      if (ids.size === 0) {
        this.held.delete(key);
        continue;
      }
      try {
        const lost = await this.redis.leaseRenew(key, this.options.leaseTtlMs, ...ids);
        if (lost > 0) this.options.log.warn({ lost }, `${this.options.name}: stream leases expired before renewal (a pause longer than the lease TTL)`);
      } catch (err) {
        this.options.log.debug({ err: (err as Error).message }, `${this.options.name}: renewal failed`);
      }
    }
  }

  private up(wait: number): number {
    if (this.degraded) this.options.log.info(`${this.options.name}: redis is back; limits hold across replicas again`);
    this.degraded = false;
    return wait;
  }

  /** Redis did not answer: this replica's own limiter decides. */
  private fallback(err: unknown): MemoryRateLimiter {
    if (!this.degraded) {
      this.options.log.warn({ err: err ? (err as Error).message : "not connected" }, `${this.options.name}: redis unreachable; limiting per replica until it returns`);
    }
    this.degraded = true;
    return this.local;
  }
}
