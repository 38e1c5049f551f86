// Per-RPC metrics and logs: one interceptor records the request count by
// service/method/code, the latency histogram, and one debug log line per finished
// call (warn/error for server-side failures). Streams are finished when their
// last response message has been sent. Every call is recorded once, with the code its
// client received: a call that fails before it reaches the interceptor (refused by the
// gate, unreadable) is recorded when connect-es aborts it with its final error, and a
// client that goes away is CANCELED, whatever the handler threw on its way out.
//
// The hot path only bumps numbers in a per-method record (no label hashing, no
// allocation); the Prometheus series are built from those records at scrape time.
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { reclassifyParseError } from "./errors.js";

export interface RpcObserver {
  /** Observes calls served by connect-node. */
  interceptor: Interceptor;
  /**
   * connect-node's request gate calls this first for every call: a call that ends before it
   * reaches the interceptor (refused by the gate, a request that cannot be read) is recorded
   * when it ends, with the error connect-es answers.
   */
  admit(ctx: HandlerContext): void;
  /** A call starts running: returns its start time, to pass to finish(). */
  begin(): number;
  /** A call ended with the status its client received: OK when err is undefined, else err's code. */
  finish(method: DescMethod, started: number, err?: unknown): void;
}

/** gRPC status names as they appear on the wire and in grpcurl ("OK", "NOT_FOUND", ...). */
export function codeName(code: Code | 0): string {
  if (code === 0) return "OK";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

// Failures that point at the server rather than the request.
const SERVER_FAULTS = new Set<number>([Code.Internal, Code.Unknown, Code.DataLoss]);
const DEGRADED = new Set<number>([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted]);

/** Upper bounds of the latency histogram, in seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const CODES = 17; // gRPC status codes 0-16

interface MethodStats {
  readonly service: string;
  readonly method: string;
  readonly byCode: Float64Array; // calls per status code
  readonly byBucket: Float64Array; // calls per latency bucket (not cumulative); the last slot is +Inf
  sum: number;
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string };

export function createRpcObserver(metrics: Registry, log: Logger): RpcObserver {
  const stats = new Map<DescMethod, MethodStats>();
  let running = 0;
  const debug = log.isLevelEnabled("debug");

  const statsOf = (m: DescMethod): MethodStats => {
    let s = stats.get(m);
    if (!s) {
      s = { service: m.parent.typeName, method: m.name, byCode: new Float64Array(CODES), byBucket: new Float64Array(BUCKETS.length + 1), sum: 0 };
      stats.set(m, s);
    }
    return s;
  };

  const record = (m: DescMethod, code: Code | 0, seconds: number, err?: unknown) => {
    const s = statsOf(m);
    s.byCode[code]++;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    s.byBucket[i]++;
    s.sum += seconds;
    logOutcome(s, code, seconds, err);
  };

  const logOutcome = (s: MethodStats, code: Code | 0, seconds: number, err?: unknown) => {
    if (code === 0 && !debug) return;
    const rpc = `${s.service}/${s.method}`;
    const name = codeName(code);
    const ms = Math.round(seconds * 1e6) / 1e3;
    if (SERVER_FAULTS.has(code)) log.error({ rpc, code: name, ms, err }, "rpc failed");
    else if (DEGRADED.has(code)) log.warn({ rpc, code: name, ms, err: (err as Error | undefined)?.message }, "rpc failed");
    else if (debug) log.debug({ rpc, code: name, ms, ...(err ? { err: (err as Error).message } : {}) }, "rpc");
  };

  registerCollector(metrics, "openloop_rpc_requests_total", "Finished RPCs by service, method and gRPC status code.", "counter", () => {
    const values: MetricValue[] = [];
    for (const s of stats.values()) {
      s.byCode.forEach((n, code) => {
        if (n > 0) values.push({ value: n, labels: { service: s.service, method: s.method, code: codeName(code) } });
      });
    }
    return values;
  });
  registerCollector(
    metrics,
    "openloop_rpc_duration_seconds",
    "RPC latency from the first request message to the last response message, by service and method.",
    "histogram",
    () => {
      const values: MetricValue[] = [];
      for (const s of stats.values()) {
        const labels = { service: s.service, method: s.method };
        let cumulative = 0;
        s.byBucket.forEach((n, i) => {
          cumulative += n;
          values.push({ metricName: "openloop_rpc_duration_seconds_bucket", value: cumulative, labels: { le: i < BUCKETS.length ? BUCKETS[i] : "+Inf", ...labels } });
        });
        values.push({ metricName: "openloop_rpc_duration_seconds_sum", value: s.sum, labels });
        values.push({ metricName: "openloop_rpc_duration_seconds_count", value: cumulative, labels });
      }
      return values;
    },
  );
  registerCollector(metrics, "openloop_rpc_in_flight", "RPCs currently running (streams count until they end).", "gauge", () => [{ value: running, labels: {} }]);

  // Helpers shared by every call, so that a call allocates no closures of its own.
  const begin = () => {
    running++;
    return performance.now();
  };
  const finish = (method: DescMethod, started: number, err?: unknown) => {
    running--;
    record(method, codeOf(err), (performance.now() - started) / 1000, err);
  };

  // connect-node's calls. connect-es can fail one after it is recorded here: a response
  // message over server.maxMessageBytes fails as connect-es encodes it, after the handler and
  // this interceptor have answered (and a stream it then stops reading looks cancelled here).
  // connect-es ends every failed call by aborting its context with the error its client gets,
  // so the gate's admit() wraps that context's abort, and such a call moves to that code.
  const recorded = new WeakMap<AbortSignal, { method: DescMethod; code: Code | 0; started: number }>();
  const finishCall = (signal: AbortSignal, method: DescMethod, started: number, err?: unknown) => {
    finish(method, started, err);
    recorded.set(signal, { method, code: codeOf(err), started });
  };
  const failedAfterRecord = (signal: AbortSignal, reason: unknown) => {
    const call = recorded.get(signal);
    if (!call) return;
    recorded.delete(signal);
    const outcome = reason instanceof ConnectError ? abortedWith(reason) : new ConnectError("internal error", Code.Internal);
    if (outcome.code === call.code) return;
    const s = statsOf(call.method);
    s.byCode[call.code]--;
    s.byCode[outcome.code]++;
    logOutcome(s, outcome.code, (performance.now() - call.started) / 1000, reason);
  };

  async function* observeStream<T>(messages: AsyncIterable<T>, method: DescMethod, signal: AbortSignal, started: number): AsyncGenerator<T> {
    let failed = false;
    try {
      yield* messages;
    } catch (err) {
      failed = true;
      const outcome = failureOf(err, signal);
      finishCall(signal, method, started, outcome);
      throw hideInternals(outcome);
    } finally {
      // A stream can end without an error although its call was aborted: by a client that
      // went away (CANCELED), or by connect-es over the request (which answers that error).
      if (!failed) finishCall(signal, method, started, signal.aborted ? abortedWith(signal.reason) : undefined);
    }
  }

  // Calls admitted by the gate that have not reached the interceptor yet, by their signal.
  const waiting = new WeakMap<AbortSignal, DescMethod>();
  function endedBeforeInterceptor(this: AbortSignal): void {
    const method = waiting.get(this);
    if (method === undefined) return;
    waiting.delete(this);
    const reason: unknown = this.reason;
    record(method, abortedWith(reason).code, 0, reason);
  }
  const admit = (ctx: HandlerContext) => {
    waiting.set(ctx.signal, ctx.method);
    ctx.signal.addEventListener("abort", endedBeforeInterceptor, ONCE);
    // The gate gets connect-es's HandlerContextController, whose abort ends the call.
    const controller = ctx as HandlerContext & { abort(reason?: unknown): void };
    const abort = controller.abort;
    controller.abort = (reason?: unknown) => {
      abort(reason);
      if (reason !== undefined) failedAfterRecord(ctx.signal, reason);
    };
  };

  const interceptor: Interceptor = (next) => async (req) => {
    waiting.delete(req.signal);
    const started = begin();
    // Later messages of a request stream are parsed as the handler reads them.
    if (req.stream) req = { ...req, message: parsedRequests(req.message) };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      const outcome = failureOf(err, req.signal);
      finishCall(req.signal, req.method, started, outcome);
      throw hideInternals(outcome);
    }
    if (!res.stream) {
      finishCall(req.signal, req.method, started);
      return res;
    }
    return { ...res, message: observeStream(res.message, req.method, req.signal, started) };
  };

  return { interceptor, admit, begin, finish };
}

/** Registers a metric whose series are computed when Prometheus scrapes. */
function registerCollector(metrics: Registry, name: string, help: string, type: "counter" | "gauge" | "histogram", values: () => MetricValue[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum",
    get: () => ({ name, help, type, aggregator: "sum", values: values() }),
    reset() {},
  };
  metrics.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

const ONCE = { once: true } as const;

/** The status code of a call that ended with `err` (OK without one). */
function codeOf(err: unknown): Code | 0 {
  return err === undefined ? 0 : err instanceof ConnectError ? err.code : Code.Internal;
}

/** A request stream whose unreadable messages fail as the client's mistake (INVALID_ARGUMENT). */
async function* parsedRequests<T>(messages: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    reclassifyParseError(err);
    throw err;
  }
}

/**
 * The error a failed call ends with, as its client sees it. Once the call is aborted (the
 * client went away, the deadline passed, the server shuts down), whatever the handler
 * threw on its way out (a closed stream, ERR_STREAM_PREMATURE_CLOSE) is that abort.
 */
function failureOf(err: unknown, signal: AbortSignal): unknown {
  reclassifyParseError(err);
  if (signal.aborted) {
    if (err instanceof ConnectError && err.code !== Code.Aborted && err.code !== Code.Internal && err.code !== Code.Unknown) return err;
    return abortOutcome(signal.reason);
  }
  // The request stream broke before connect-node heard that the client is gone.
  if (clientGone(err)) return new ConnectError("the client went away", Code.Canceled);
  return err;
}

/**
 * The status of a call whose context was aborted for `reason`: connect-es's own error (which
 * it answers the client), else a client that went away (CANCELED).
 */
function abortedWith(reason: unknown): ConnectError {
  reclassifyParseError(reason);
  if (reason instanceof ConnectError && reason.code !== Code.Aborted) return reason;
  return new ConnectError("the client went away", Code.Canceled);
}

/**
 * The status of a call whose handler failed after the call was aborted for `reason`: the
 * deadline or shutdown, or else a client that went away (CANCELED), even where connect-node
 * reports the broken request as ABORTED or INTERNAL.
 */
function abortOutcome(reason: unknown): ConnectError {
  const e = ConnectError.from(reason, Code.Canceled);
  return e.code === Code.Aborted || e.code === Code.Internal || e.code === Code.Unknown ? new ConnectError("the client went away", Code.Canceled) : e;
}

// Node's errors for a request whose client reset the stream or dropped the connection.
const CLIENT_GONE = new Set(["ERR_STREAM_PREMATURE_CLOSE", "ECONNRESET", "ERR_STREAM_DESTROYED", "ERR_HTTP2_STREAM_ERROR", "ERR_HTTP2_INVALID_STREAM", "ECONNABORTED", "EPIPE"]);

function clientGone(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (CLIENT_GONE.has((e as NodeJS.ErrnoException).code ?? "") || e.message === "aborted") return true;
    if (e instanceof ConnectError && e.code === Code.Aborted) return true;
  }
  return false;
}

/** Errors that are not ConnectErrors are bugs: log them in full, answer a plain INTERNAL. */
export function hideInternals(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error (details in the server log)", Code.Internal);
}
