// Server-streaming handlers and client disconnects.
//
// When a client goes away mid-stream, connect-node can leave a handler parked at a `yield`
// (measured with HTTP/1.1 clients on a loaded machine: the write it waits on never settles),
// so the handler's `finally` blocks never run and what they release (an upstream call, a
// model's sequence, metrics) stays held. Iterating the handler's source through closeOnAbort
// closes that source as soon as the call's signal aborts, wherever the handler is parked.
import { ConnectError } from "@connectrpc/connect";

/**
 * Yields `source`'s items; when `signal` aborts, closes `source` at once (running its cleanup)
 * and throws the abort's reason, so an aborted stream never ends looking complete.
 */
export async function* closeOnAbort<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const close = () => void it.return?.(undefined)?.catch(() => {});
  if (signal.aborted) close();
  signal.addEventListener("abort", close, { once: true });
  try {
    for (;;) {
      const r = await it.next();
      if (signal.aborted) throw ConnectError.from(signal.reason);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    signal.removeEventListener("abort", close);
    await it.return?.(undefined);
  }
}
