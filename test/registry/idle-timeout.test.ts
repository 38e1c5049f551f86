// The upload idle timeout on a manual clock: only waits for an item count, each one on its own.
import { describe, expect, it } from "vitest";
import { RegistryError } from "../../src/registry/errors.js";
import { withIdleTimeout, type IdleTimers } from "../../src/registry/idle-timeout.js";

/** A clock that moves only when told, with the timers due by then run in order. */
function manualTimers(): IdleTimers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    set: (fn, ms) => {
      due.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clear: (handle) => void due.delete(handle as number),
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const next = [...due].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!next) break;
        due.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = until;
    },
    pending: () => due.size,
  };
}

/** A source whose items the test hands over one at a time. */
function handFed<T>(): AsyncIterable<T> & { give(item: T): void; end(): void } {
  const waiting: ((r: IteratorResult<T>) => void)[] = [];
  const ready: IteratorResult<T>[] = [];
  const push = (r: IteratorResult<T>) => {
    const w = waiting.shift();
    if (w) w(r);
    else ready.push(r);
  };
  return {
    give: (item) => push({ value: item, done: false }),
    end: () => push({ value: undefined, done: true }),
    [Symbol.asyncIterator]: () => ({
      next: () => (ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise<IteratorResult<T>>((resolve) => waiting.push(resolve))),
    }),
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An upload with a 300 ms idle timeout on a manual clock, its first item ("a") already taken. */
async function afterFirstItem() {
  const timers = manualTimers();
  const source = handFed<string>();
  const it = withIdleTimeout(source, 300, timers)[Symbol.asyncIterator]();
  source.give("a");
  expect((await it.next()).value).toBe("a");
  return { timers, source, it };
}

describe("withIdleTimeout", () => {
  it("keeps an upload whose items each come within the timeout, however long it lasts in all", async () => {
    const timers = manualTimers();
    const source = handFed<number>();
    const it = withIdleTimeout(source, 300, timers)[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) {
      const next = it.next();
      timers.advance(250);
      source.give(i);
      expect(await next).toEqual({ value: i, done: false });
    }
    const last = it.next();
    source.end();
    expect(await last).toEqual({ value: undefined, done: true });
    expect(timers.pending()).toBe(0);
  });

  it("does not count the time the caller takes with an item", async () => {
    const { timers, source, it } = await afterFirstItem();
    timers.advance(1_000); // the caller writes "a" to a slow disk
    source.give("b");
    expect((await it.next()).value).toBe("b");
    const next = it.next();
    timers.advance(299);
    source.give("c");
    expect((await next).value).toBe("c");
  });

  it("fails with 'stalled' once a wait reaches the timeout, and stops its timer", async () => {
    const { timers, source, it } = await afterFirstItem();
    timers.advance(5_000);
    const next = it.next();
    await turn();
    timers.advance(299);
    await turn();
    timers.advance(1);
    const err = await next.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe("stalled");
    expect((err as Error).message).toBe("the upload sent nothing for 300 ms and was dropped; nothing was registered");
    expect(timers.pending()).toBe(0);
  });
});
