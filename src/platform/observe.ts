// Per-RPC metrics and logs: one interceptor records the request count by
// service/method/code, the latency histogram, and one debug log line per finished
// call (warn/error for server-side failures). Streams are finished when their
// last response message has been sent.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface RpcObserver {
  interceptor: Interceptor;
  /** Records a call that ended before reaching the interceptors (for example rejected by auth). */
  record(service: string, method: string, code: Code, seconds: number, err?: unknown): void;
}

/** gRPC status names as they appear on the wire and in grpcurl ("OK", "NOT_FOUND", ...). */
export function codeName(code: Code | 0): string {
  if (code === 0) return "OK";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

// Failures that point at the server rather than the request.
const SERVER_FAULTS = new Set<Code>([Code.Internal, Code.Unknown, Code.DataLoss]);
const DEGRADED = new Set<Code>([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted]);

export function createRpcObserver(metrics: Registry, log: Logger): RpcObserver {
  const requests = new Counter({
    name: "openloop_rpc_requests_total",
    help: "Finished RPCs by service, method and gRPC status code.",
    labelNames: ["service", "method", "code"] as const,
    registers: [metrics],
  });
  const duration = new Histogram({
    name: "openloop_rpc_duration_seconds",
    help: "RPC latency from the first request message to the last response message, by service and method.",
    labelNames: ["service", "method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metrics],
  });
  // A plain number, read at scrape time: cheaper than a gauge update on every call.
  let running = 0;
  new Gauge({
    name: "openloop_rpc_in_flight",
    help: "RPCs currently running (streams count until they end).",
    registers: [metrics],
    collect() {
      this.set(running);
    },
  });

  // Label children are cached: lookups by label values hash on every call otherwise.
  const counters = new Map<string, Counter.Internal>();
  const histograms = new Map<string, Histogram.Internal<"service" | "method">>();
  const debug = log.isLevelEnabled("debug");

  const record: RpcObserver["record"] = (service, method, code, seconds, err) => {
    const key = `${service}/${method}`;
    const name = codeName(code);
    let c = counters.get(`${key}:${code}`);
    if (!c) counters.set(`${key}:${code}`, (c = requests.labels(service, method, name)));
    c.inc();
    let h = histograms.get(key);
    if (!h) histograms.set(key, (h = duration.labels(service, method)));
    h.observe(seconds);
    const ms = Math.round(seconds * 1e6) / 1e3;
    if (SERVER_FAULTS.has(code)) log.error({ rpc: key, code: name, ms, err }, "rpc failed");
    else if (DEGRADED.has(code)) log.warn({ rpc: key, code: name, ms, err: (err as Error | undefined)?.message }, "rpc failed");
    else if (debug) log.debug({ rpc: key, code: name, ms, ...(err ? { err: (err as Error).message } : {}) }, "rpc");
  };

  const interceptor: Interceptor = (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const started = performance.now();
    const done = (err?: unknown) => {
      running--;
      const code = err === undefined ? 0 : err instanceof ConnectError ? err.code : Code.Internal;
      record(service, method, code as Code, (performance.now() - started) / 1000, err);
    };
    running++;
    let res;
    try {
      res = await next(req);
    } catch (err) {
      done(err);
      throw hideInternals(err);
    }
    if (!res.stream) {
      done();
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        let failed = false;
        try {
          yield* messages;
        } catch (err) {
          failed = true;
          done(err);
          throw hideInternals(err);
        } finally {
          // A client that goes away ends the stream without an error: count it as CANCELED.
          if (!failed) done(req.signal.aborted ? new ConnectError("client went away", Code.Canceled) : undefined);
        }
      })(),
    };
  };

  return { interceptor, record };
}

/** Errors that are not ConnectErrors are bugs: log them in full, answer a plain INTERNAL. */
function hideInternals(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error (details in the server log)", Code.Internal);
}
