// One upstream call whose answer any number of identical requests read (single flight).
// Late joiners replay the deltas so far, then follow live. The upstream call is aborted
// when the last reader leaves before it ends.
import type { FinishReason, Usage } from "./providers/provider.js";

export interface UpstreamAnswer {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  model: string;
  provider: string;
  upstreamModel: string;
}

/** What a stream reader gets at once: the deltas that arrived since its last batch, joined, and the answer once it is there. */
export interface FlightBatch {
  text: string;
  answer: UpstreamAnswer | undefined;
}

/** What the gateway's retries and fallbacks see of the callers they work for: a Flight, or one caller alone. */
export interface UpstreamCall {
  /** The model and provider tried last, for metrics of callers who only see the outcome. */
  lastTried: { model: string; provider: string } | undefined;
  /** True once a delta went out: a failure after it can be neither retried nor handed to a fallback. */
  readonly deltaEmitted: boolean;
  /** Aborted when no caller wants the answer any more. */
  readonly signal: AbortSignal;
  /** The latest deadline among the callers (undefined while any has none). */
  deadline(): number | undefined;
  readonly delta: (text: string) => void;
}

export class Flight implements UpstreamCall {
  /** The deltas so far; the only copy (a cache entry and late joiners read it). */
  private readonly deltas: string[] = [];
  private answer: UpstreamAnswer | undefined;
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private wakeScheduled = false;
  private changed: Promise<void> | undefined;
  private readonly controller = new AbortController();
  private readonly readers = new Map<object, number | undefined>();
  /** The model and provider tried last, for metrics of callers who only see the outcome. */
  lastTried: { model: string; provider: string } | undefined;
  deltaEmitted = false;

  /**
   * @param replay false for a flight nobody joins (cache bypass): deltas are dropped once
   * its one reader has them.
   */
  constructor(private readonly replay = true) {}

  /** Aborted when every reader has left before the flight ended. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get done(): boolean {
    return this.ended;
  }

  /** Every delta of the answer, for the cache (a flight that replays). */
  get allDeltas(): readonly string[] {
    return this.deltas;
  }

  /** The latest deadline among the readers (undefined while any reader has none). */
  deadline(): number | undefined {
    let latest = 0;
    for (const d of this.readers.values()) {
      if (d === undefined) return undefined;
      if (d > latest) latest = d;
    }
    return this.readers.size === 0 ? undefined : latest;
  }

  readonly delta = (text: string): void => {
    if (this.ended) return;
    this.deltas.push(text);
    this.deltaEmitted = true;
    this.notifySoon();
  };

  complete(answer: UpstreamAnswer): void {
    if (this.ended) return;
    this.answer = answer;
    this.finish();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.failure = err;
    this.finish();
  }

  /** Waits for the answer. Throws the flight's error, or the signal's reason when it aborts. */
  async result(signal: AbortSignal, deadline: number | undefined): Promise<UpstreamAnswer> {
    const token = this.join(deadline);
    try {
      while (!this.ended) await this.nextChange(signal);
      if (this.failure !== undefined) throw this.failure;
      return this.answer!;
    } finally {
      this.leave(token);
    }
  }

  /**
   * Reads the answer from its first delta, as batches of what has arrived since the last
   * batch (one delta each when the reader keeps up). Throws the flight's error, or the
   * signal's reason when it aborts.
   */
  async *read(signal: AbortSignal, deadline: number | undefined): AsyncGenerator<FlightBatch> {
    const token = this.join(deadline);
    let i = 0;
    try {
      for (;;) {
        if (i < this.deltas.length || this.ended) {
          // Nothing arrives after the end: what is here now is all there is.
          const ended = this.ended;
          const text = i === 0 && this.deltas.length === 1 ? this.deltas[0] : this.deltas.slice(i).join("");
          if (this.replay) i = this.deltas.length;
          else this.deltas.length = 0;
          if (ended && this.failure !== undefined) {
            if (text) yield { text, answer: undefined };
            throw this.failure;
          }
          const answer = ended ? this.answer : undefined;
          if (text || answer) yield { text, answer };
          if (ended) return;
          continue;
        }
        await this.nextChange(signal);
      }
    } finally {
      this.leave(token);
    }
  }

  private join(deadline: number | undefined): object {
    const token = {};
    this.readers.set(token, deadline);
    return token;
  }

  private leave(token: object): void {
    this.readers.delete(token);
    if (this.readers.size === 0 && !this.ended) this.controller.abort(new Error("every caller of this flight went away"));
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  /**
   * Wakes readers once the current event-loop turn is over, so the deltas parsed from one
   * upstream network read reach them as one batch (no timer: nothing waits for more input).
   */
  private notifySoon(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    this.changed = undefined;
    wake?.();
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    this.changed ??= new Promise<void>((resolve) => (this.wake = resolve));
    const changed = this.changed;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      void changed.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }
}
