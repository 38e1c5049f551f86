// An upload that stops sending is dropped after the registry's idle timeout (registry.uploadIdleTimeoutMs).
import { performance } from "node:perf_hooks";
import { RegistryError } from "./errors.js";

/** The clock and timer the idle timeout runs on (tests give a manual one). */
export interface IdleTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: IdleTimers = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Passes items through, failing with "stalled" when the next one takes longer than idleMs.
 * One timer for the whole source, re-armed only when it fires early: an HTTP upload arrives in
 * 64 KiB chunks, and a timer set and cleared for each took 4% of the server's busy time in a
 * 500 MiB PUT (BENCHMARKS.md, registry). Only the wait for an item counts, not the time the
 * caller takes with it.
 */
export async function* withIdleTimeout<T>(source: AsyncIterable<T>, idleMs: number, timers: IdleTimers = realTimers): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  /** When the current wait for an item began; undefined while the caller has the item. */
  let waitingSince: number | undefined;
  let stall: ((err: Error) => void) | undefined;
  const check = () => {
    const waited = waitingSince === undefined ? 0 : timers.now() - waitingSince;
    if (waited >= idleMs) stall?.(new RegistryError("stalled", `the upload sent nothing for ${idleMs} ms and was dropped; nothing was registered`));
    else timer = timers.set(check, idleMs - waited);
  };
  let timer = timers.set(check, idleMs);
  try {
    for (;;) {
      waitingSince = timers.now();
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        stall = reject;
        it.next().then(resolve, reject);
      });
      waitingSince = undefined;
      stall = undefined;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    timers.clear(timer);
  }
}
