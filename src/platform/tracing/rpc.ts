// Spans of RPCs: the server span of each call on native gRPC (our transport or grpc-js), Connect and
// gRPC-Web (connect-node), and a span for each call between services of one process.
// Each wrapper is decided once, when the server is built: with tracing off it hands back
// what it was given, so a call pays nothing.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { context, type Attributes, type Context } from "@opentelemetry/api";
import type { Metadata, ServerWritableStream, UntypedHandleCall, sendUnaryData } from "@grpc/grpc-js";
import { inSpan, SpanKind, startChildSpan, startServerSpan, tracingEnabled, type RequestSpan } from "./tracer.js";

/** The gRPC status code the client received, as semantic conventions name it. */
export const ATTR_RPC_STATUS_CODE = "rpc.grpc.status_code";

// Codes that mean the server failed (OpenTelemetry's rule for gRPC server spans); others are the caller's.
const SERVER_ERRORS = new Set<number>([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

function rpcAttributes(method: DescMethod, system: string): Attributes {
  return { "rpc.system": system, "rpc.service": method.parent.typeName, "rpc.method": method.name };
}

const spanName = (method: DescMethod) => `${method.parent.typeName}/${method.name}`;

/** Ends an RPC span with the code its client received (0 for OK). */
function endRpc(span: RequestSpan, code: number, err?: unknown): void {
  // The first end wins (grpc-js reports a call that ended as cancelled too); later ones are ignored.
  span.end(SERVER_ERRORS.has(code) ? (err ?? new Error(Code[code])) : undefined, { [ATTR_RPC_STATUS_CODE]: code });
}

/** The code a caller receives for `err`: a ConnectError's, else INTERNAL (observe.ts hides other errors so). */
function codeOf(err: unknown): number {
  return err instanceof ConnectError ? err.code : Code.Internal;
}

const metadataGetter = (md: Metadata) => (name: string) => {
  const v = md.get(name)[0];
  return typeof v === "string" ? v : undefined;
};

type StatusLike = { code?: number } | null | undefined;

/** The server span around a grpc-js handler (grpc/server.ts), ended with the status the client got. */
export function traceGrpcHandler(method: DescMethod, handler: UntypedHandleCall): UntypedHandleCall {
  if (!tracingEnabled()) return handler;
  const name = spanName(method);
  const attributes = rpcAttributes(method, "grpc");
  const endOnCancel = (call: { getDeadline(): Date | number; once(e: "cancelled", l: () => void): unknown }, span: RequestSpan) =>
    call.once("cancelled", () => {
      // grpc-js reports every ended call as cancelled; the span of one that ended has ended already.
      const deadline = call.getDeadline();
      const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      endRpc(span, Date.now() >= ms ? Code.DeadlineExceeded : Code.Canceled);
    });
  if (method.methodKind === "unary" || method.methodKind === "client_streaming") {
    const unary = handler as (call: never, callback: sendUnaryData<Buffer>) => void;
    return ((call: ServerWritableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const span = startServerSpan(name, metadataGetter(call.metadata), attributes);
      if (!span) return unary(call as never, callback); // tracing stopped (shutdown)
      endOnCancel(call, span);
      const done: sendUnaryData<Buffer> = (err, value, trailer, flags) => {
        endRpc(span, err ? ((err as StatusLike)?.code ?? Code.Unknown) : 0, err ?? undefined);
        callback(err, value, trailer, flags);
      };
      span.run(() => unary(call as never, done));
    }) as UntypedHandleCall;
  }
  const streaming = handler as (call: never) => void;
  return ((call: ServerWritableStream<Buffer, Buffer>) => {
    const span = startServerSpan(name, metadataGetter(call.metadata), attributes);
    if (!span) return streaming(call as never);
    endOnCancel(call, span);
    // grpc/server.ts ends a stream with emit("error", status) or end(): the first one seen is the code sent.
    call.once("error", (status: StatusLike) => endRpc(span, status?.code ?? Code.Unknown, status));
    call.once("finish", () => endRpc(span, 0));
    span.run(() => streaming(call as never));
  }) as UntypedHandleCall;
}

/**
 * Starts the server span of a call our own gRPC transport carries (grpc/native-server.ts),
 * given a reader of its request headers; undefined when tracing is off. End it with endRpcSpan.
 */
export function grpcSpanStarter(method: DescMethod): ((header: (name: string) => string | undefined) => RequestSpan | undefined) | undefined {
  if (!tracingEnabled()) return undefined;
  const name = spanName(method);
  const attributes = rpcAttributes(method, "grpc");
  return (header) => startServerSpan(name, header, attributes);
}

/** Ends an RPC span with the code its client received (0 for OK); the first end wins. */
export const endRpcSpan = (span: RequestSpan, code: number, err?: unknown): void => endRpc(span, code, err);

/** The server span of calls connect-node serves (Connect, gRPC-Web, and gRPC it takes): none when tracing is off. */
export function tracingInterceptors(): Interceptor[] {
  if (!tracingEnabled()) return [];
  const interceptor: Interceptor = (next) => async (req) => {
    const type = req.header.get("content-type") ?? "";
    const system = type.startsWith("application/grpc") ? "grpc" : "connect_rpc";
    const attributes = rpcAttributes(req.method, system);
    attributes["openloop.rpc.protocol"] = type.startsWith("application/grpc-web") ? "grpc-web" : type.startsWith("application/grpc") ? "grpc" : "connect";
    const span = startServerSpan(spanName(req.method), req.header, attributes);
    if (!span) return next(req);
    let res;
    try {
      res = await span.run(() => next(req));
    } catch (err) {
      endRpc(span, codeOf(err), err);
      throw err;
    }
    if (!res.stream) {
      endRpc(span, 0);
      return res;
    }
    return { ...res, message: within(span.context, res.message, (err) => endRpc(span, err === undefined ? (req.signal.aborted ? Code.Canceled : 0) : codeOf(err), err)) };
  };
  return [interceptor];
}

/** Calls between services of one process (server.ts's in-process transports) get a span each. */
export function traceTransport(transport: Transport): Transport {
  if (!tracingEnabled()) return transport;
  const attributesOf = (method: DescMethod) => rpcAttributes(method, "openloop_in_process");
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      inSpan(spanName(method), { kind: SpanKind.CLIENT, attributes: attributesOf(method) }, (span) =>
        transport.unary(method, signal, timeoutMs, header, input, contextValues).then(
          (res) => {
            span?.setAttribute(ATTR_RPC_STATUS_CODE, 0);
            return res;
          },
          (err: unknown) => {
            span?.setAttribute(ATTR_RPC_STATUS_CODE, codeOf(err));
            throw err;
          },
        ),
      ),
    stream: async (method, signal, timeoutMs, header, input, contextValues) => {
      const span = startChildSpan(spanName(method), SpanKind.CLIENT, attributesOf(method));
      if (!span) return transport.stream(method, signal, timeoutMs, header, input, contextValues);
      let res;
      try {
        res = await span.run(() => transport.stream(method, signal, timeoutMs, header, input, contextValues));
      } catch (err) {
        endRpc(span, codeOf(err), err);
        throw err;
      }
      return { ...res, message: within(span.context, res.message, (err) => endRpc(span, err === undefined ? 0 : codeOf(err), err)) };
    },
  };
}

/**
 * The messages of a stream, each produced with `ctx` active (a handler's generator runs
 * when its reader asks for the next message: the reader's context would be active instead),
 * and `onEnd` called once when the stream ends, fails, or its reader stops.
 */
function within<T>(ctx: Context, source: AsyncIterable<T>, onEnd: (err?: unknown) => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      const settle = (p: Promise<IteratorResult<T>>) =>
        p.then(
          (r) => {
            if (r.done) onEnd();
            return r;
          },
          (err: unknown) => {
            onEnd(err);
            throw err;
          },
        );
      return {
        next: () => settle(context.with(ctx, () => it.next())),
        return: (value?: unknown) => {
          onEnd();
          return it.return ? context.with(ctx, () => it.return!(value)) : Promise.resolve({ done: true as const, value: value as T });
        },
        throw: (err?: unknown) => {
          onEnd(err);
          return it.throw ? context.with(ctx, () => it.throw!(err)) : Promise.reject(err as Error);
        },
      };
    },
  };
}
