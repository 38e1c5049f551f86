// A server stream's messages written as the handler yields them, for both gRPC servers
// (native-server.ts, and grpc-js's server.ts): at most MAX_UNWRITTEN ahead of the transport,
// so a slow reader holds back the handler, and an aborted call's status, queued behind them,
// reaches the client within the shutdown grace.

const MAX_UNWRITTEN = 2;

export interface ResponseSink {
  /** True once the call has ended (its status sent, or the client gone): the rest is dropped. */
  ended(): boolean;
  /** Writes one message; `written` runs once the transport has taken it. */
  write(value: unknown, written: () => void): void;
  /** The call's abort signal: a wait for the transport ends when it aborts, with its reason. */
  signal(): AbortSignal;
}

/** Writes `source`'s messages to `sink`, waiting whenever the client is slower; returns the source on an early end. */
export async function pumpResponses(source: AsyncIterable<unknown>, sink: ResponseSink): Promise<void> {
  const it = source[Symbol.asyncIterator]();
  let complete = false;
  let unwritten = 0;
  let wake: (() => void) | undefined;
  const written = () => {
    unwritten--;
    wake?.();
  };
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        complete = true;
        return;
      }
      if (sink.ended()) return;
      unwritten++;
      sink.write(r.value, written);
      if (unwritten < MAX_UNWRITTEN) continue;
      const signal = sink.signal();
      if (signal.aborted) throw signal.reason;
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        wake = onAbort = () => resolve();
        signal.addEventListener("abort", onAbort);
      });
      signal.removeEventListener("abort", onAbort!);
      wake = undefined;
      if (signal.aborted) throw signal.reason;
    }
  } finally {
    if (!complete) await it.return?.(undefined);
  }
}
