// gRPC served by our own HTTP/2 transport (h2/connection.ts, wire.ts) from the same
// bindings connect-node serves. Decoding, encoding and their errors are ours, as on the
// Connect side: a malformed request is INVALID_ARGUMENT. Auth (auth.ts) admits each call,
// the observer (observe.ts) records it once with the status its client received, and the
// deadline (the client's grpc-timeout, else server.defaultDeadlineMs) is one timer that
// aborts the handler and answers DEADLINE_EXCEEDED.
import type { Duplex } from "node:stream";
import { fromBinary, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import type { AuthGate, Admission } from "../auth.js";
import { isPromise } from "../is-promise.js";
import { hideInternals, type RpcObserver } from "../observe.js";
import type { ServiceBinding } from "../rpc/binding.js";
import { sentCallback } from "../rpc/encode-self.js";
import { endRpcSpan, grpcSpanStarter, type RequestSpan } from "../tracing/index.js";
import { CONNECTION_WINDOW_BYTES, MAX_HEADER_LIST_BYTES, STREAM_WINDOW_BYTES } from "../http2-windows.js";
import { GrpcCallContext } from "./context.js";
import { decodeRequest, encodeResponse } from "./messages.js";
import { H2Connection, type H2Stream, type StreamListener } from "./h2/connection.js";
import { HpackEncoder } from "./h2/hpack.js";
import type { GrpcServer, GrpcServerOptions } from "./server.js";
import { pumpResponses, type ResponseSink } from "./pump.js";
import { GrpcCall, type RequestHead } from "./wire.js";

// Calls one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
const MAX_CONCURRENT_STREAMS = 1000;

type Impl = (input: unknown, ctx: GrpcCallContext) => unknown;
type Route = (call: GrpcCall) => void;

export function createNativeGrpcServer(opts: GrpcServerOptions): GrpcServer {
  const routes = new Map<string, Route>();
  for (const b of opts.bindings) {
    for (const method of b.desc.methods) {
      const impl = (b.impl as Record<string, unknown>)[method.localName];
      if (typeof impl !== "function") continue; // answered UNIMPLEMENTED
      const decoder = b.options.decoders?.[method.localName];
      routes.set(`/${b.desc.typeName}/${method.name}`, routeFor(method, impl.bind(b.impl) as Impl, opts, decoder ?? ((bytes) => fromBinary(method.input, bytes))));
    }
  }
  const wire = { maxMessageBytes: opts.maxMessageBytes };
  const listener: StreamListener = {
    onRequest(stream, fields) {
      const head = requestHead(fields);
      if (head instanceof Refusal) return head.send(stream);
      const call = new GrpcCall(stream, head, wire);
      const route = routes.get(head.path);
      if (!route) return call.sendStatus(new ConnectError(`The server does not implement the method ${clip(head.path)}`, Code.Unimplemented));
      route(call);
    },
  };
  const connectionOptions = {
    streamWindowBytes: STREAM_WINDOW_BYTES,
    connectionWindowBytes: CONNECTION_WINDOW_BYTES,
    maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
    maxHeaderListBytes: MAX_HEADER_LIST_BYTES,
    keepaliveTimeMs: opts.keepalive.timeMs,
    keepaliveTimeoutMs: opts.keepalive.timeoutMs,
    minClientPingIntervalMs: opts.keepalive.minClientPingIntervalMs,
  };
  const connections = new Set<H2Connection>();
  let drainTimer: NodeJS.Timeout | undefined;
  return {
    inject(socket: Duplex) {
      const conn: H2Connection = new H2Connection(
        socket,
        connectionOptions,
        listener,
        () => connections.delete(conn),
        (err) => opts.log.error({ err }, "gRPC connection ended by an internal error"),
      );
      connections.add(conn);
    },
    drain(graceMs) {
      for (const c of connections) c.drain();
      drainTimer ??= setTimeout(() => {
        for (const c of connections) c.destroy();
      }, graceMs);
      drainTimer.unref();
    },
    destroy() {
      clearTimeout(drainTimer);
      for (const c of connections) c.destroy();
    },
  };
}

// A refused request is answered once the client has sent all of it, as HTTP servers answer,
// so that an error in what it sends (a body that is not its content-length, frames after
// END_STREAM, a window overflow) is reported first (RFC 9113; h2spec checks this). A client that
// waits for the answer before it ends, or sends a large body, is answered sooner.
const REFUSAL_WAIT_MS = 1000;
const REFUSED_BODY_BYTES = 64 << 10;

/** An HTTP-level refusal of a request that is not gRPC (answered as grpc-js answers it). */
class Refusal {
  private readonly block: Buffer;
  private readonly body: Buffer;
  constructor(status: string, text: string) {
    this.block = new HpackEncoder().encode([[":status", status], ["content-type", "text/plain; charset=utf-8"]]);
    this.body = Buffer.from(`${text}\n`);
  }
  send(stream: H2Stream): void {
    let discarded = 0;
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    // Sending on a stream reset meanwhile does nothing.
    const answer = () => {
      clearTimeout(timer);
      if (answered) return;
      answered = true;
      stream.sendHeaders(this.block, false);
      stream.sendData(this.body);
      stream.end();
    };
    stream.onData = (chunk) => {
      stream.consumed(chunk.length);
      discarded += chunk.length;
      if (discarded > REFUSED_BODY_BYTES) answer();
    };
    // After the frames of the same read, which may still hold a stream error.
    stream.onEnd = () => setImmediate(answer);
    stream.onAbort = () => clearTimeout(timer);
    timer = setTimeout(answer, REFUSAL_WAIT_MS).unref();
  }
}
const NOT_POST = new Refusal("405", "gRPC requests are POSTs");
// The one port routes a connection by its first request: one that opened with gRPC serves gRPC only.
const NOT_GRPC = new Refusal("415", "this connection serves gRPC only (application/grpc); send Connect and gRPC-Web requests on a connection of their own");

function requestHead(fields: string[]): RequestHead | Refusal {
  let method: string | undefined;
  let path = "";
  let contentType = "";
  let timeout: string | undefined;
  let encoding: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    switch (fields[i]) {
      case ":method":
        method = fields[i + 1];
        break;
      case ":path":
        path = fields[i + 1];
        break;
      case "content-type":
        contentType = fields[i + 1];
        break;
      case "grpc-timeout":
        timeout = fields[i + 1];
        break;
      case "grpc-encoding":
        encoding = fields[i + 1];
        break;
    }
  }
  if (method !== "POST") return NOT_POST;
  if (!contentType.startsWith("application/grpc") || contentType.startsWith("application/grpc-web")) return NOT_GRPC;
  return { path, timeout, encoding, fields };
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

function routeFor(method: DescMethod, impl: Impl, opts: GrpcServerOptions, decoder: (bytes: Uint8Array) => unknown): Route {
  const { auth, observer, shutdown, defaultDeadlineMs } = opts;
  const startSpan = grpcSpanStarter(method);
  const decode = (bytes: Buffer): unknown => decodeRequest(decoder, bytes);
  const requests = async function* (call: GrpcCall): AsyncGenerator<unknown> {
    for (let bytes = await call.read(); bytes; bytes = await call.read()) yield decode(bytes);
  };

  const run = (x: Exchange) => {
    const call = x.call;
    switch (method.methodKind) {
      case "unary":
        return void call.readOne().then(
          (bytes) => x.unary(() => impl(decode(bytes), x.ctx)),
          (err: unknown) => x.fail(err),
        );
      case "client_streaming":
        return x.unary(() => impl(requests(call), x.ctx));
      case "server_streaming":
        return void call.readOne().then(
          (bytes) => x.stream(() => impl(decode(bytes), x.ctx)),
          (err: unknown) => x.fail(err),
        );
      case "bidi_streaming":
        return x.stream(() => impl(requests(call), x.ctx));
    }
  };

  const serve = (call: GrpcCall, span: RequestSpan | undefined) => {
    const started = observer.begin();
    let deadline = Infinity;
    let own = false;
    if (call.head.timeout !== undefined) {
      // Any well-formed value (up to 8 digits of hours) is a deadline.
      const t = parseTimeout(call.head.timeout, Number.MAX_SAFE_INTEGER);
      if (t.error) {
        const x = new Exchange(method, call, new GrpcCallContext(method, call, Infinity, shutdown, false), observer, started, span, undefined);
        return x.fail(t.error);
      }
      deadline = Date.now() + t.timeoutMs!;
    } else if (defaultDeadlineMs > 0) {
      deadline = Date.now() + defaultDeadlineMs;
      own = true;
    }
    const ctx = new GrpcCallContext(method, call, deadline, shutdown, own);
    let admission: Admission;
    try {
      admission = auth ? auth(method, call.header("authorization")) : undefined;
    } catch (err) {
      return new Exchange(method, call, ctx, observer, started, span, undefined).fail(err);
    }
    if (!isPromise(admission)) return run(new Exchange(method, call, ctx, observer, started, span, admission));
    admission.then(
      (release) => run(new Exchange(method, call, ctx, observer, started, span, release)),
      (err: unknown) => new Exchange(method, call, ctx, observer, started, span, undefined).fail(err),
    );
  };
  if (!startSpan) return (call) => serve(call, undefined);
  // The whole call runs in its span: the handler, a stream's later messages, its log line.
  return (call) => {
    const span = startSpan((name) => call.header(name));
    if (span) span.run(() => serve(call, span));
    else serve(call, undefined);
  };
}

/** One call from admission to its status: the record, the span, the deadline and the reply. */
class Exchange {
  private done = false;

  constructor(
    private readonly method: DescMethod,
    readonly call: GrpcCall,
    readonly ctx: GrpcCallContext,
    private readonly observer: RpcObserver,
    private readonly started: number,
    private readonly span: RequestSpan | undefined,
    private readonly release: (() => void) | undefined,
  ) {
    if (call.cancelled) {
      this.cancelled();
      return;
    }
    call.once("cancelled", () => this.cancelled());
    ctx.armDeadline(() => {
      const reason = new ConnectError("the call's deadline was exceeded", Code.DeadlineExceeded);
      ctx.abort(reason);
      this.fail(reason);
    });
  }

  /** Runs a unary or client-streaming handler and sends its one response. */
  unary(handle: () => unknown): void {
    if (this.done) return;
    let result: unknown;
    try {
      result = handle();
    } catch (err) {
      return this.fail(err);
    }
    if (!isPromise(result)) return this.ok(result);
    result.then(
      (response) => this.ok(response),
      (err: unknown) => this.fail(err),
    );
  }

  private readonly sink: ResponseSink = {
    ended: () => this.done,
    write: (value, written) => {
      this.call.sendHeaders(this.ctx.headersToSend());
      const sent = sentCallback(value);
      this.call.sendMessage(encodeResponse(this.method.output, value, this.call.opts.maxMessageBytes), () => {
        sent?.();
        written();
      });
    },
    signal: () => this.ctx.signal,
  };

  /** Runs a server-streaming or bidi handler and sends its messages as they come. */
  stream(handle: () => unknown): void {
    if (this.done) return;
    let source: AsyncIterable<unknown>;
    try {
      source = handle() as AsyncIterable<unknown>;
    } catch (err) {
      return this.fail(err);
    }
    pumpResponses(source, this.sink).then(
      () => this.end(),
      (err: unknown) => this.fail(err),
    );
  }

  private ok(response: unknown): void {
    if (this.done) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeResponse(this.method.output, response, this.call.opts.maxMessageBytes);
    } catch (err) {
      return this.fail(err);
    }
    this.finish(undefined);
    this.call.sendHeaders(this.ctx.headersToSend());
    this.call.sendMessage(bytes);
    this.call.sendStatus(undefined, this.ctx.trailersToSend());
  }

  private end(): void {
    if (this.done) return;
    this.finish(undefined);
    this.call.sendHeaders(this.ctx.headersToSend());
    this.call.sendStatus(undefined, this.ctx.trailersToSend());
  }

  fail(err: unknown): void {
    if (this.done) return;
    const sent = ConnectError.from(hideInternals(err));
    this.finish(err, sent);
    // Without headers of the handler's, the status goes alone (a trailers-only response).
    const headers = this.ctx.headersToSend();
    if (headers) this.call.sendHeaders(headers);
    this.call.sendStatus(sent, this.ctx.trailersToSend());
  }

  /** The client cancelled, or the connection went away: nothing more is sent. */
  private cancelled(): void {
    if (this.done) return;
    const reason = this.ctx.cancelled();
    this.finish(reason, reason);
  }

  /** Records the call once: `sent` is the error its client receives (none for OK), `err` the handler's. */
  private finish(err: unknown, sent?: ConnectError): void {
    this.done = true;
    this.ctx.end();
    this.release?.();
    // The handler's own error is logged when it is what the client receives.
    const handlerCode = err instanceof ConnectError ? err.code : Code.Internal;
    const recorded = sent === undefined ? undefined : handlerCode === sent.code ? err : sent;
    this.observer.finish(this.method, this.started, recorded);
    if (this.span) endRpcSpan(this.span, sent?.code ?? 0, recorded);
  }
}

