// The process's tracer: OpenTelemetry spans exported over OTLP/HTTP (protobuf) in batches,
// with the active span carried through async code by AsyncLocalStorage. Off by default:
// then `active` stays undefined, every helper here runs its callback directly, and the
// wrappers of rpc.ts and stores.ts hand back what they were given, so hot paths pay nothing.
// The SDK that records and exports spans (exporter.ts) is loaded only when tracing starts.
import { context, trace, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type TextMapGetter, type TextMapPropagator, type Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { TelemetryConfig } from "./config.js";
import { isPromise } from "../is-promise.js";

export { SpanKind };

interface ActiveTracing {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
  /** Exports the spans still queued and stops the SDK. */
  readonly stop: () => Promise<void>;
  /** Where it exports, to tell a second server configured otherwise. */
  readonly url: string;
  /** Servers of this process using it: the last one to stop flushes and stops it. */
  users: number;
}

let active: ActiveTracing | undefined;

/** True while a server with telemetry.otlp.endpoint runs in this process. */
export function tracingEnabled(): boolean {
  return active !== undefined;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Exports the spans still queued, then stops; spans started afterwards are not recorded. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: async () => {} };

/**
 * Starts exporting spans when telemetry.otlp.endpoint is set. The context manager is
 * process-wide, so servers of one process (tests, embedding programs) share one tracing:
 * the first one's settings apply, and the last one to stop flushes it.
 */
export async function startTracing(settings: TelemetryConfig, log: Logger): Promise<Tracing> {
  const { endpoint, headers, serviceName, maxQueueSize, exportIntervalMs } = settings.otlp;
  if (!endpoint) return OFF;
  const base = endpoint.replace(/\/+$/, "");
  const url = base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
  let state = active;
  if (state) {
    state.users++;
    if (state.url !== url) log.warn({ url, exportingTo: state.url }, "tracing: another server of this process already exports spans; this one's go there too");
  } else {
    const { startExporting } = await import("./exporter.js");
    // Another server of this process may have started tracing while the SDK loaded.
    if (active) return startTracing(settings, log);
    const exporting = startExporting({ url, headers, serviceName, maxQueueSize, exportIntervalMs }, log);
    context.setGlobalContextManager(exporting.contextManager);
    propagation.setGlobalPropagator(exporting.propagator);
    state = active = { tracer: exporting.tracer, propagator: exporting.propagator, stop: exporting.stop, url, users: 1 };
    log.info({ url, serviceName }, "tracing: exporting spans over OTLP");
  }
  const shared = state;
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown: () =>
      (stopped ??= (async () => {
        if (--shared.users > 0) return;
        if (active === shared) active = undefined;
        try {
          await shared.stop();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "tracing: flushing spans on shutdown failed");
        }
        context.disable();
        propagation.disable();
      })()),
  };
}

/** Attributes and kind of a span that wraps one piece of work. */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Starts a new trace rather than a child of the active span (background work such as a training). */
  root?: boolean;
}

/**
 * Runs `fn` inside a span named `name`, a child of the active span; the span ends when fn's
 * result settles and records a thrown error. With tracing off fn runs alone (span undefined).
 */
export function inSpan<T>(name: string, opts: SpanOptions, fn: (span: Span | undefined) => T): T {
  if (!active) return fn(undefined);
  const parent = opts.root ? ROOT_CONTEXT : context.active();
  const span = active.tracer.startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes, root: opts.root }, parent);
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (err) {
    endWithError(span, err);
    throw err;
  }
  if (!isPromise(result)) {
    span.end();
    return result;
  }
  return result.then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      endWithError(span, err);
      throw err;
    },
  ) as T;
}

/** Sets attributes on the active span, if tracing is on and one is active (e.g. a cache hit found deep in a call). */
export function annotateSpan(attributes: Attributes): void {
  if (!active) return;
  trace.getSpan(context.active())?.setAttributes(attributes);
}

/** The span of a request that arrived from outside: a child of the caller's `traceparent`, if it sent one. */
export interface RequestSpan {
  readonly span: Span;
  /** The context to run the request's work in (the span active). */
  readonly context: Context;
  /** Runs fn with the request's span active, so everything it starts (sync or async) is a child. */
  run<T>(fn: () => T): T;
  /** Ends the span once (later calls are ignored): pass the error the caller received, if any. */
  end(err?: unknown, attributes?: Attributes): void;
}

/** Header carriers spans can be continued from: fetch Headers, Node's incoming headers, or a lookup function. */
export type HeaderSource = Headers | Readonly<Record<string, string | string[] | undefined>> | ((name: string) => string | undefined);

/**
 * Starts the server span of one incoming request, continuing the W3C trace context
 * (`traceparent`, `tracestate`) in `headers`; undefined when tracing is off. For HTTP
 * endpoints outside the RPC transports (the OpenAI-compatible API): call it first, run the
 * handler through `run`, and `end` it when the response is complete.
 */
export function startServerSpan(name: string, headers: HeaderSource, attributes?: Attributes): RequestSpan | undefined {
  if (!active) return undefined;
  return requestSpan(active.tracer, name, SpanKind.SERVER, attributes, active.propagator.extract(ROOT_CONTEXT, headers, HEADER_GETTER));
}

/** A child of the active span that outlives the call that starts it (a stream's span ends with its last message). */
export function startChildSpan(name: string, kind: SpanKind, attributes?: Attributes): RequestSpan | undefined {
  if (!active) return undefined;
  return requestSpan(active.tracer, name, kind, attributes, context.active());
}

function requestSpan(tracer: Tracer, name: string, kind: SpanKind, attributes: Attributes | undefined, parent: Context): RequestSpan {
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  let ended = false;
  return {
    span,
    context: ctx,
    run: (fn) => context.with(ctx, fn),
    end(err, attrs) {
      if (ended) return;
      ended = true;
      if (attrs) span.setAttributes(attrs);
      if (err !== undefined) endWithError(span, err);
      else span.end();
    },
  };
}

/** The active trace's ids for log lines (a pino mixin: pino merges into the object returned, so it is always a new one). */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

function endWithError(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}

const HEADER_GETTER: TextMapGetter<HeaderSource> = {
  get(carrier, key) {
    if (typeof carrier === "function") return carrier(key);
    if (carrier instanceof Headers) return carrier.get(key) ?? undefined;
    return carrier[key];
  },
  keys(carrier) {
    if (typeof carrier === "function") return [];
    if (carrier instanceof Headers) return [...carrier.keys()];
    return Object.keys(carrier);
  },
};
