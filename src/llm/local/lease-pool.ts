// A fixed set of resources (llama.cpp context sequences) handed out one request at a time,
// with a bounded FIFO queue for requests that arrive while all are busy.

export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`all sequences are busy and ${limit} requests are already queued`);
    this.name = "QueueFullError";
  }
}

export class PoolClosedError extends Error {
  constructor() {
    super("the pool is closed");
    this.name = "PoolClosedError";
  }
}

interface Waiter<T> {
  resolve(item: T): void;
  reject(err: unknown): void;
}

export class LeasePool<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];
  private closed = false;
  /** How many items the pool holds. */
  readonly size: number;

  constructor(items: readonly T[], private readonly maxQueued: number) {
    if (items.length === 0) throw new Error("a lease pool needs at least one item");
    this.free = [...items];
    this.size = items.length;
  }

  /** Requests waiting for an item. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Items currently leased. */
  get busy(): number {
    return this.size - this.free.length;
  }

  /**
   * Resolves with an item as soon as one is free, in arrival order. Rejects with
   * QueueFullError when `maxQueued` requests already wait, with the signal's reason when it
   * aborts first (the place in the queue is given up), and with PoolClosedError after close().
   */
  acquire(signal?: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const item = this.free.pop();
    if (item !== undefined) return Promise.resolve(item);
    if (this.waiters.length >= this.maxQueued) return Promise.reject(new QueueFullError(this.maxQueued));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (it) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(it);
        },
        reject: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Returns an item: it goes to the longest-waiting request, or back to the free list. */
  release(item: T): void {
    const next = this.waiters.shift();
    if (next && !this.closed) next.resolve(item);
    else this.free.push(item);
  }

  /** Rejects every waiting request; later acquire() calls fail at once. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new PoolClosedError());
  }
}
