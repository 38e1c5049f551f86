// Per-provider concurrency limits with a bounded FIFO queue: CallLimiter is what the gateway
// needs; ConcurrencyLimiter holds it within one process, RedisLimits (redis-limiter.ts) across
// every replica sharing a Redis.

export class QueueFullError extends Error {}

/** Upstream calls in progress at once for one provider, and those waiting for a slot. */
export interface CallLimiter {
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  /** Calls holding a slot through this process. */
  readonly inProgress: number;
  /** Calls of this process waiting for a slot. */
  readonly queued: number;
  /**
   * Resolves with a release function once a slot is free. Throws QueueFullError at once when
   * the queue is full, and the signal's reason when it aborts while waiting.
   */
  acquire(signal: AbortSignal): Promise<() => void> | (() => void);
}

/** Makes the limiter of one provider. */
export type LimiterFactory = (provider: string, limit: { maxConcurrency: number; maxQueue: number }) => CallLimiter;

export const localLimiter: LimiterFactory = (_provider, limit) => new ConcurrencyLimiter(limit.maxConcurrency, limit.maxQueue);

interface Waiter {
  grant: () => void;
}

export class ConcurrencyLimiter implements CallLimiter {
  private active = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly maxConcurrency: number,
    readonly maxQueue: number,
  ) {}

  get inProgress(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Resolves with a release function once a slot is free. Throws QueueFullError at once when
   * the queue is full, and the signal's reason when it aborts while waiting.
   */
  acquire(signal: AbortSignal): Promise<() => void> | (() => void) {
    if (signal.aborted) throw signal.reason;
    if (this.active < this.maxConcurrency) {
      this.active++;
      return this.releaser();
    }
    if (this.queue.length >= this.maxQueue) {
      throw new QueueFullError(`${this.active} calls in progress and ${this.queue.length} queued`);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next.grant();
      else this.active--;
    };
  }
}
