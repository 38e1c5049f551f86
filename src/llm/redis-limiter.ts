// Provider concurrency limits that hold across every replica sharing one Redis: a semaphore of
// leases (src/platform/redis-leases.ts): holders renew their leases while the call runs, and a
// replica that dies stops renewing, so its slots come back after leaseTtlMs.
//
// Waiting calls queue in their own replica (FIFO there, up to maxQueue per replica); a released
// slot is announced on a pub/sub channel so waiters try at once, and waiters also retry on a
// short timer in case a lease expired instead. While Redis is unreachable each replica falls back
// to its own limit (ConcurrencyLimiter): LLM calls keep being served, the global bound is then
// per replica until Redis returns.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { createRedisClient, createRedisSubscriber, DEFAULT_REDIS_POLICY, RedisProbe, type RedisClientPolicy } from "../platform/redis.js";
import { ACQUIRE_LEASE, RELEASE_LEASE, RENEW_LEASES } from "../platform/redis-leases.js";
import { ConcurrencyLimiter, QueueFullError, type CallLimiter, type LimiterFactory } from "./limiter.js";

type ScriptClient = Redis & {
  limiterAcquire(key: string, id: string, limit: number, ttlMs: number): Promise<number>;
  limiterRenew(key: string, ttlMs: number, ...ids: string[]): Promise<number>;
  limiterRelease(key: string, id: string, channel: string, provider: string): Promise<number>;
};

export interface RedisLimitsOptions {
  readonly url: string;
  /** The server's Redis client policy (`redis.commandTimeoutMs` / `connectTimeoutMs`). */
  readonly policy?: RedisClientPolicy;
  /** Prefix of every key and of the release channel. */
  readonly keyPrefix: string;
  /** A slot held by a replica that stopped renewing it (it died) is free again after this long. */
  readonly leaseTtlMs: number;
  /** How often a waiting call retries without a release announcement (a lease may have expired). */
  readonly pollMs?: number;
  readonly log: Logger;
}

/** The Redis connections and the limiters of every provider of one process. */
export class RedisLimits {
  private readonly redis: ScriptClient;
  private readonly subscriber: Redis;
  /** Whether the limits' Redis answers (health reports it; without it limits are per replica). */
  readonly probe: RedisProbe;
  private readonly limiters = new Map<string, RedisLimiter>();
  private renewTimer: NodeJS.Timeout;

  /** Connects before the first call; an unreachable Redis is logged, and limits are per replica until it answers. */
  static async open(options: RedisLimitsOptions): Promise<RedisLimits> {
    const limits = new RedisLimits(options);
    try {
      // subscribe() connects the subscriber itself.
      await Promise.all([limits.redis.connect(), limits.subscribed]);
    } catch (err) {
      options.log.warn({ err: (err as Error).message }, "llm limits: redis not reachable at start; limiting per replica until it is");
    }
    return limits;
  }

  private readonly subscribed: Promise<unknown>;

  private constructor(readonly options: RedisLimitsOptions) {
    // The one fail-fast policy: a Redis that is down must not stall calls.
    const policy = options.policy ?? DEFAULT_REDIS_POLICY;
    this.redis = createRedisClient(options.url, policy, { lazyConnect: true }) as ScriptClient;
    this.redis.defineCommand("limiterAcquire", { numberOfKeys: 1, lua: ACQUIRE_LEASE });
    this.redis.defineCommand("limiterRenew", { numberOfKeys: 1, lua: RENEW_LEASES });
    this.redis.defineCommand("limiterRelease", { numberOfKeys: 1, lua: RELEASE_LEASE });
    this.redis.on("error", (err: Error) => options.log.debug({ err: err.message }, "llm limits: redis error"));
    this.probe = new RedisProbe(this.redis, policy.commandTimeoutMs);
    this.subscriber = createRedisSubscriber(options.url, policy, { lazyConnect: true });
    this.subscriber.on("error", (err: Error) => options.log.debug({ err: err.message }, "llm limits: redis subscriber error"));
    this.subscriber.on("message", (_channel: string, provider: string) => this.limiters.get(provider)?.wake());
    // Queued until the subscriber connects (and sent again after every reconnect by ioredis).
    this.subscribed = this.subscriber.subscribe(`${options.keyPrefix}released`).catch((err: unknown) => options.log.warn({ err: (err as Error).message }, "llm limits: subscribing failed; waiters poll"));
    // A third of the TTL: two renewals can fail before a live call's lease runs out.
    this.renewTimer = setInterval(() => {
      for (const l of this.limiters.values()) void l.renew();
    }, Math.max(50, Math.floor(options.leaseTtlMs / 3)));
    this.renewTimer.unref();
  }

  /** The LimiterFactory the gateway takes. */
  readonly factory: LimiterFactory = (provider, limit) => {
    const limiter = new RedisLimiter(this.redis, provider, limit.maxConcurrency, limit.maxQueue, this.options);
    this.limiters.set(provider, limiter);
    return limiter;
  };

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    this.probe.close();
    for (const l of this.limiters.values()) l.close();
    // Slots still held go back now rather than after their TTL.
    await Promise.all([...this.limiters.values()].map((l) => l.releaseAll())).catch(() => undefined);
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

interface Waiter {
  readonly signal: AbortSignal;
  grant: (release: () => void) => void;
  fail: (err: unknown) => void;
}

class RedisLimiter implements CallLimiter {
  private readonly key: string;
  private readonly channel: string;
  private readonly held = new Set<string>();
  private readonly queue: Waiter[] = [];
  private readonly local: ConcurrencyLimiter;
  private pumping: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private degraded = false;
  private closed = false;

  constructor(
    private readonly redis: ScriptClient,
    private readonly provider: string,
    readonly maxConcurrency: number,
    readonly maxQueue: number,
    private readonly options: RedisLimitsOptions,
  ) {
    this.key = `${options.keyPrefix}${provider}`;
    this.channel = `${options.keyPrefix}released`;
    this.local = new ConcurrencyLimiter(maxConcurrency, maxQueue);
  }

  get inProgress(): number {
    return this.held.size + this.local.inProgress;
  }

  get queued(): number {
    return this.queue.length + this.local.queued;
  }

  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    // One more than maxQueue may enter: it is tried at once, and cut (below) if no slot is free.
    if (this.queue.length > this.maxQueue) return Promise.reject(this.queueFull());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        signal,
        grant: (release) => {
          signal.removeEventListener("abort", onAbort);
          resolve(release);
        },
        fail: (err) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
      this.wake();
    });
  }

  /** Tries to give slots to the waiters, in order, until Redis says none is free. */
  wake(): void {
    if (this.closed || this.queue.length === 0) return;
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
      this.schedulePoll();
    });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const id = randomUUID();
      let taken: boolean;
      try {
        taken = (await this.redis.limiterAcquire(this.key, id, this.maxConcurrency, this.options.leaseTtlMs)) === 1;
        if (this.degraded) this.options.log.info({ provider: this.provider }, "llm limits: redis is back; the concurrency limit is global again");
        this.degraded = false;
      } catch (err) {
        // Only a lost connection falls back to the replica's own limit; a slow answer (a command
        // timeout on a busy Redis) is retried on the poll timer, so the global bound holds.
        // (A timed-out script may still have taken a slot: its lease expires after leaseTtlMs.)
        if (this.redis.status !== "ready") this.degrade(err);
        else this.options.log.debug({ provider: this.provider, err: (err as Error).message }, "llm limits: acquiring failed; retrying");
        return;
      }
      if (!taken) {
        for (const w of this.queue.splice(this.maxQueue)) w.fail(this.queueFull());
        return;
      }
      const waiter = this.queue.shift();
      if (!waiter) {
        // Everyone waiting gave up meanwhile: give the slot straight back.
        void this.release(id);
        return;
      }
      this.held.add(id);
      let released = false;
      waiter.grant(() => {
        if (released) return;
        released = true;
        void this.release(id);
      });
    }
  }

  private queueFull(): QueueFullError {
    return new QueueFullError(`${this.inProgress} calls in progress through this replica and ${this.queue.length} queued (the limit is global)`);
  }

  /** Redis unreachable: the waiters go through this replica's own limiter instead. */
  private degrade(err: unknown): void {
    if (!this.degraded) {
      this.options.log.warn({ provider: this.provider, err: (err as Error).message }, "llm limits: redis unreachable; limiting per replica until it returns");
    }
    this.degraded = true;
    for (const waiter of this.queue.splice(0)) {
      try {
        const release = this.local.acquire(waiter.signal);
        if (typeof release === "function") waiter.grant(release);
        else release.then(waiter.grant, waiter.fail);
      } catch (e) {
        waiter.fail(e);
      }
    }
  }

  private schedulePoll(): void {
    if (this.closed || this.queue.length === 0 || this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.wake();
    }, this.options.pollMs ?? 250);
    this.pollTimer.unref();
  }

  private async release(id: string): Promise<void> {
    this.held.delete(id);
    try {
      await this.redis.limiterRelease(this.key, id, this.channel, this.provider);
    } catch (err) {
      // The lease then expires on its own after leaseTtlMs.
      this.options.log.debug({ provider: this.provider, err: (err as Error).message }, "llm limits: release failed");
    }
    this.wake();
  }

  async renew(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      const lost = await this.redis.limiterRenew(this.key, this.options.leaseTtlMs, ...this.held);
      if (lost > 0) this.options.log.warn({ provider: this.provider, lost }, "llm limits: leases expired before renewal (a pause longer than the lease TTL)");
    } catch (err) {
      this.options.log.debug({ provider: this.provider, err: (err as Error).message }, "llm limits: renewal failed");
    }
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((id) => this.release(id)));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.pollTimer);
  }
}
