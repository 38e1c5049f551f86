// One upstream call whose events any number of identical requests read (single flight).
// Late joiners replay the events so far, then follow live. The upstream call is aborted
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

export type FlightEvent = { type: "delta"; text: string } | { type: "done"; answer: UpstreamAnswer; deltas: string[] };

export class Flight {
  private readonly events: FlightEvent[] = [];
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

  /** Aborted when every reader has left before the flight ended. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get done(): boolean {
    return this.ended;
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

  push(event: FlightEvent): void {
    if (this.ended) return;
    this.events.push(event);
    if (event.type === "delta") {
      this.deltaEmitted = true;
      this.notifySoon();
    } else this.notify();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.failure = err;
    this.finish();
  }

  end(): void {
    if (!this.ended) this.finish();
  }

  /**
   * Reads every event from the first, as batches of the events that have arrived since the
   * last batch (one event each when the reader keeps up). Throws the flight's error, or the
   * signal's reason when it aborts.
   */
  async *read(signal: AbortSignal, deadline: number | undefined): AsyncGenerator<FlightEvent[]> {
    const token = {};
    this.readers.set(token, deadline);
    let i = 0;
    try {
      for (;;) {
        if (i < this.events.length) {
          const batch = this.events.slice(i);
          i += batch.length;
          yield batch;
          continue;
        }
        if (this.ended) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await this.nextChange(signal);
      }
    } finally {
      this.readers.delete(token);
      if (this.readers.size === 0 && !this.ended) this.controller.abort(new Error("every caller of this flight went away"));
    }
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
