// Per-key limits: requests per second as a token bucket, and open streams as a count.
// Behind a small interface so that limits can be kept somewhere every replica shares;
// MemoryRateLimiter holds them in this process.

/** How fast one key may call: `perSecond` sustained, up to `burst` at once. */
export interface RequestRate {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * Answers synchronously: both transports ask it before a request is read, on every call.
 * An implementation shared by replicas (Redis, say) decides from a local view and
 * reconciles it in the background, rather than waiting on a round trip per call.
 */
export interface RateLimiter {
  /** Takes one request from `key`'s bucket: 0 when admitted, else the milliseconds until a request would be. */
  take(key: string, rate: RequestRate): number;
  /** Opens a stream for `key` when fewer than `max` are open: returns the function that closes it, else undefined. */
  openStream(key: string, max: number): (() => void) | undefined;
}

interface Bucket {
  tokens: number;
  /** Clock reading (ms) when `tokens` was last brought up to date. */
  at: number;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly streams = new Map<string, number>();

  /** `now` reads a monotonic clock in milliseconds (tests pass their own). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  take(key: string, rate: RequestRate): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: rate.burst, at: now }));
    b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / rate.perSecond) * 1000);
  }

  openStream(key: string, max: number): (() => void) | undefined {
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
}
