// Per-key limits: requests per second as a token bucket, and open streams as a count.
// Behind a small interface so that limits can be kept somewhere every replica shares:
// MemoryRateLimiter holds them in this process, RedisRateLimiter (redis-rate-limit.ts) in a
// Redis all replicas share. The LLM gateway's per-provider requests and tokens per minute
// (src/llm/provider-rates.ts) are buckets of the same kind.
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** How fast one key may call: `perSecond` sustained, up to `burst` at once. */
export interface RequestRate {
  readonly perSecond: number;
  readonly burst: number;
}

/** Closes a stream slot; calling it twice counts once. */
export type StreamRelease = () => void;

/**
 * Answers synchronously when it can: the in-process limiter always does, so a server without a
 * shared Redis pays nothing for the interface. A limiter shared by replicas answers with a
 * promise (one Redis round trip), and only for keys that have limits: the auth gate asks it
 * nothing for the others.
 */
export interface RateLimiter {
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket: 0 when admitted, else the milliseconds
   * until `cost` would be. A cost above the burst is admitted when the bucket is full, and
   * leaves it in debt.
   */
  take(key: string, rate: RequestRate, cost?: number): number | Promise<number>;
  /** Takes `cost` tokens without asking (negative gives them back): a correction after the fact. */
  charge(key: string, rate: RequestRate, cost: number): void;
  /** Opens a stream for `key` when fewer than `max` are open: returns the function that closes it, else undefined. */
  openStream(key: string, max: number): StreamRelease | undefined | Promise<StreamRelease | undefined>;
}

export interface Bucket {
  tokens: number;
  /** Clock reading (ms) when `tokens` was last brought up to date. */
  at: number;
}

/**
 * The bucket rule, in one place (the Lua of redis-rate-limit.ts is the same arithmetic):
 * refill since `at`, then admit when the tokens cover `cost` (capped at the burst, so a large
 * cost is not refused forever). Returns 0 and takes the tokens, else the milliseconds to wait.
 */
export function takeFromBucket(b: Bucket, rate: RequestRate, cost: number, now: number, force = false): number {
  b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
  b.at = now;
  const need = Math.min(cost, rate.burst);
  if (force || b.tokens >= need) {
    b.tokens -= cost;
    return 0;
  }
  return Math.ceil(((need - b.tokens) / rate.perSecond) * 1000);
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly streams = new Map<string, number>();

  /** `now` reads a monotonic clock in milliseconds (tests pass their own). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  take(key: string, rate: RequestRate, cost = 1): number {
    return takeFromBucket(this.bucket(key, rate), rate, cost, this.now());
  }

  charge(key: string, rate: RequestRate, cost: number): void {
    takeFromBucket(this.bucket(key, rate), rate, cost, this.now(), true);
  }

  openStream(key: string, max: number): StreamRelease | undefined {
    const open = this.streams.get(key) ?? 0;
    if (open >= max) return undefined;
    this.streams.set(key, open + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.streams.set(key, (this.streams.get(key) ?? 1) - 1);
    };
  }

  private bucket(key: string, rate: RequestRate): Bucket {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: rate.burst, at: this.now() }));
    return b;
  }
}

/**
 * RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail saying when to try again, and the same
 * time as `retry-after` metadata (seconds; the OpenAI-compatible API's Retry-After header).
 */
export function resourceExhausted(message: string, retryMs: number): ConnectError {
  const ms = Math.max(0, Math.ceil(retryMs));
  const retryDelay = create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
  return new ConnectError(`${message}; retry in ${ms} ms`, Code.ResourceExhausted, { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))) }, [
    { desc: RetryInfoSchema, value: { retryDelay } },
  ]);
}
