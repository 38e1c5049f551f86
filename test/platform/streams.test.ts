// closeOnAbort: a streaming handler's source is closed when the call's signal aborts, even
// while the handler is parked at a yield that nobody will resume.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { closeOnAbort } from "../../src/platform/streams.js";

function source() {
  const state = { closed: false, produced: 0 };
  async function* gen() {
    try {
      for (;;) yield ++state.produced;
    } finally {
      state.closed = true;
    }
  }
  return { state, iterable: gen() };
}

describe("closeOnAbort", () => {
  it("closes the source when the signal aborts while the consumer is parked, never resumed", async () => {
    const { state, iterable } = source();
    const ac = new AbortController();
    const wrapped = closeOnAbort(iterable, ac.signal);
    expect((await wrapped.next()).value).toBe(1);
    // The consumer stops here without calling next() or return() again, as a handler
    // whose client went away can; only the abort is left to release the source.
    ac.abort();
    await new Promise((r) => setImmediate(r));
    expect(state.closed).toBe(true);
    expect(state.produced).toBe(1);
  });

  it("passes every item through and closes the source when the consumer stops early", async () => {
    const { state, iterable } = source();
    const seen: number[] = [];
    for await (const n of closeOnAbort(iterable, new AbortController().signal)) {
      seen.push(n);
      if (n === 3) break;
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(state.closed).toBe(true);
  });

  it("never starts the source for an already aborted signal, and throws its reason", async () => {
    const { state, iterable } = source();
    const reason = new ConnectError("shutting down", Code.Unavailable);
    const wrapped = closeOnAbort(iterable, AbortSignal.abort(reason));
    await expect(wrapped.next()).rejects.toBe(reason);
    expect(state.produced).toBe(0);
  });

  it("ends with the abort's reason, not a clean end, when the signal aborts mid-stream", async () => {
    const { iterable } = source();
    const ac = new AbortController();
    const wrapped = closeOnAbort(iterable, ac.signal);
    await wrapped.next();
    ac.abort(new ConnectError("deadline", Code.DeadlineExceeded));
    await expect(wrapped.next()).rejects.toMatchObject({ code: Code.DeadlineExceeded });
  });
});
