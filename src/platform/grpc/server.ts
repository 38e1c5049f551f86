// gRPC served by @grpc/grpc-js from the same bindings connect-node serves. grpc-js hands
// us raw message bytes (identity (de)serializers), so decoding, encoding and their errors
// stay ours: a malformed request is INVALID_ARGUMENT, as on the Connect side. Auth and
// metrics are the platform's own (auth.ts, observe.ts), called here as connect-node's
// request gate and interceptor call them there; every call is recorded with the status its
// client received (outcome.ts).
import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import type http2 from "node:http2";
import { fromBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Server,
  ServerCredentials,
  type Metadata,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AuthGate } from "../auth.js";
import { isPromise } from "../is-promise.js";
import { hideInternals, type RpcObserver } from "../observe.js";
import type { ServiceBinding } from "../rpc/binding.js";
import { sentCallback } from "../rpc/encode-self.js";
import { decodeRequest, encodeResponse } from "./messages.js";
import { pumpResponses } from "./pump.js";
import { traceGrpcHandler } from "../tracing/index.js";
import { SERVER_HTTP2_SETTINGS, widenConnectionWindow } from "../http2-windows.js";
import { GrpcCallContext } from "./context.js";
import { createCallOutcomes, type CallOutcomes } from "./outcome.js";
import { grpcStatusOf, toHeaders, toMetadata } from "./status.js";

export interface GrpcServerOptions {
  readonly bindings: readonly ServiceBinding[];
  readonly observer: RpcObserver;
  readonly auth: AuthGate | undefined;
  /** Largest request or response message, in bytes (server.maxMessageBytes). */
  readonly maxMessageBytes: number;
  /** Deadline of calls that arrive without one, in ms; 0 for none. */
  readonly defaultDeadlineMs: number;
  readonly keepalive: { readonly timeMs: number; readonly timeoutMs: number; readonly minClientPingIntervalMs: number };
  /** Aborts every running handler when the shutdown grace period is over. */
  readonly shutdown: AbortSignal;
  readonly log: Logger;
}

export interface GrpcServer {
  /** Serves an HTTP/2 connection (cleartext, or TLS already terminated) whose bytes have not been read. */
  inject(socket: Duplex): void;
  /** Sends GOAWAY on every connection; in-flight calls go on; connections are destroyed after graceMs. */
  drain(graceMs: number): void;
  /** Closes every connection now. */
  destroy(): void;
}

export function createGrpcServer(opts: GrpcServerOptions): GrpcServer {
  const methods = new Map<string, DescMethod>();
  for (const b of opts.bindings) for (const m of b.desc.methods) methods.set(`/${b.desc.typeName}/${m.name}`, m);
  const outcomes = createCallOutcomes(methods, opts.observer);
  const server = new Server({
    interceptors: [outcomes.interceptor],
    // Channelz tracks every call (a tracker object with four closures per call); nothing
    // here serves the channelz service that would read it.
    "grpc.enable_channelz": 0,
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_send_message_length": opts.maxMessageBytes,
    "grpc.keepalive_time_ms": opts.keepalive.timeMs,
    "grpc.keepalive_timeout_ms": opts.keepalive.timeoutMs,
    // grpc-js 1.14 polices no client's pings (it reads no such option): keepalive's
    // minClientPingIntervalMs applies to our own transport only (README).
  });
  for (const b of opts.bindings) {
    const definition: Record<string, ServiceDefinition[string]> = {};
    const handlers: Record<string, UntypedHandleCall> = {};
    for (const method of b.desc.methods) {
      const impl = (b.impl as Record<string, unknown>)[method.localName];
      if (typeof impl !== "function") continue; // grpc-js answers UNIMPLEMENTED
      definition[method.localName] = {
        path: `/${b.desc.typeName}/${method.name}`,
        requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
        responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      };
      handlers[method.localName] = traceGrpcHandler(method, handlerFor(method, impl.bind(b.impl) as Impl, opts, outcomes, b.options.decoders?.[method.localName]));
    }
    server.addService(definition, handlers);
  }
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  applyHttp2Windows(server);
  return {
    inject: (socket) => injector.injectConnection(socket),
    drain: (graceMs) => injector.drain(graceMs),
    destroy: () => injector.destroy(),
  };
}

const identity = (b: Buffer): Buffer => b;

/**
 * Gives the sessions of grpc-js's connection injector the same windows and frame size as
 * connect-node's (src/platform/http2-windows.ts). grpc-js 1.14 has no server option for them,
 * so this reaches the http2 server the injector made; it throws at start if that changes.
 */
function applyHttp2Windows(server: Server): void {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  const h2 = servers ? [...servers.keys()].at(-1) : undefined;
  if (!h2 || typeof h2.updateSettings !== "function") throw new Error("grpc-js no longer exposes its connection injector's http2 server: HTTP/2 windows cannot be set");
  h2.updateSettings(SERVER_HTTP2_SETTINGS);
  h2.on("session", widenConnectionWindow);
}

// The four handler shapes of connect-es, seen without their message types.
type Impl = (input: unknown, ctx: GrpcCallContext) => unknown;

type AnyCall = ServerUnaryCall<Buffer, Buffer> | ServerReadableStream<Buffer, Buffer> | ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>;

function handlerFor(method: DescMethod, impl: Impl, opts: GrpcServerOptions, outcomes: CallOutcomes, ownDecoder?: (bytes: Uint8Array) => unknown): UntypedHandleCall {
  const { auth, shutdown, defaultDeadlineMs } = opts;
  const decodeRequest = ownDecoder ?? ((bytes: Uint8Array) => fromBinary(method.input, bytes));

  const refuse = (call: AnyCall, err: unknown): ConnectError => {
    const e = ConnectError.from(err);
    outcomes.failed(call.metadata, e);
    return e;
  };
  const hold = (call: AnyCall, release: (() => void) | undefined): undefined => {
    if (!release) return undefined;
    // grpc-js reports every call that ends as cancelled (and one that already did says so).
    if (call.cancelled) release();
    else (call as EventEmitter).once("cancelled", release);
    return undefined;
  };
  /**
   * Refuses a call the auth gate refuses. A promise only when the gate answers with one (a key
   * with limits kept in a shared Redis): every other call is admitted synchronously.
   */
  const admitted = (call: AnyCall): ConnectError | undefined | Promise<ConnectError | undefined> => {
    if (!auth) return undefined;
    try {
      const header = call.metadata.get("authorization")[0];
      const admission = auth(method, typeof header === "string" ? header : undefined);
      if (!isPromise(admission)) return hold(call, admission);
      return admission.then(
        (release) => hold(call, release),
        (err: unknown) => refuse(call, err),
      );
    } catch (err) {
      return refuse(call, err);
    }
  };
  // The client's deadline, else the server's default (which grpc-js does not enforce: ours).
  const contextOf = (call: AnyCall): GrpcCallContext => {
    const client = call.getDeadline();
    const given = client instanceof Date ? client.getTime() : Number(client);
    const own = given === Infinity && defaultDeadlineMs > 0;
    const surface = { get cancelled() { return call.cancelled; }, once: (event: "cancelled", l: () => void) => (call as EventEmitter).once(event, l), headers: () => toHeaders(call.metadata) };
    return new GrpcCallContext(method, surface, own ? Date.now() + defaultDeadlineMs : given, shutdown, own);
  };

  switch (method.methodKind) {
    case "unary":
    case "client_streaming": {
      const streaming = method.methodKind === "client_streaming";
      const serve = (call: ServerUnaryCall<Buffer, Buffer> | ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        const ctx = contextOf(call);
        const reply = new UnaryReply(method, call, callback, ctx, outcomes);
        // A client stream is followed from the start: its cancellation must reach the requests.
        if (streaming) reply.watch();
        let result: unknown;
        try {
          const input = streaming ? requests(call as ServerReadableStream<Buffer, Buffer>, decodeRequest) : decode(decodeRequest, (call as ServerUnaryCall<Buffer, Buffer>).request);
          result = impl(input, ctx);
        } catch (err) {
          return reply.fail(err);
        }
        if (!isPromise(result)) return reply.ok(result);
        if (!streaming) reply.watch();
        result.then(
          (response) => reply.ok(response),
          (err: unknown) => reply.fail(err),
        );
      };
      return (call: ServerUnaryCall<Buffer, Buffer> | ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        const refused = admitted(call);
        if (!isPromise(refused)) return refused ? void callback(grpcStatusOf(refused)) : serve(call, callback);
        void refused.then((r) => (r ? callback(grpcStatusOf(r)) : serve(call, callback)));
      };
    }
    case "server_streaming":
    case "bidi_streaming": {
      const serveStream = (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>) => {
        const ctx = contextOf(call);
        const reply = new StreamReply(method, call, ctx, outcomes);
        reply.watch();
        let source: unknown;
        try {
          const input = method.methodKind === "server_streaming" ? decode(decodeRequest, (call as ServerWritableStream<Buffer, Buffer>).request) : requests(call as ServerDuplexStream<Buffer, Buffer>, decodeRequest);
          source = impl(input, ctx);
        } catch (err) {
          return reply.fail(err);
        }
        reply.pump(source as AsyncIterable<unknown>).then(
          () => reply.ok(),
          (err: unknown) => reply.fail(err),
        );
      };
      return (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>) => {
        const refused = admitted(call);
        if (!isPromise(refused)) return refused ? void call.emit("error", grpcStatusOf(refused)) : serveStream(call);
        void refused.then((r) => (r ? void call.emit("error", grpcStatusOf(r)) : serveStream(call)));
      };
    }
  }
}

/**
 * The request messages of a client or bidi stream, decoded one by one. Leaving early (an
 * unreadable message, a handler that stops reading) must not destroy the call: a bidi
 * call's status is sent through the same stream.
 */
async function* requests(call: ServerReadableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>, decodeRequest: (bytes: Uint8Array) => unknown): AsyncGenerator<unknown> {
  for await (const bytes of call.iterator({ destroyOnReturn: false })) yield decode(decodeRequest, bytes as Buffer);
}

function decode(decoder: (bytes: Uint8Array) => unknown, bytes: Buffer): unknown {
  return decodeRequest(decoder, bytes);
}

function encode(schema: DescMessage, value: unknown): Buffer {
  const bytes = encodeResponse(schema, value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The part of ending a call that every kind shares: one final status. */
abstract class Reply {
  protected done = false;
  private headersSent = false;

  constructor(
    protected readonly method: DescMethod,
    protected readonly call: AnyCall,
    protected readonly ctx: GrpcCallContext,
    private readonly outcomes: CallOutcomes,
  ) {}

  /**
   * Follows the call until it ends: a client that cancels (or whose deadline grpc-js
   * enforced) stops the handler's work, and the server's default deadline is armed.
   */
  watch(): void {
    (this.call as EventEmitter).once("cancelled", () => {
      if (this.done) return; // grpc-js reports every ended call as cancelled, ours too
      const reason = this.ctx.cancelled();
      this.finish();
      this.closed(reason);
    });
    if (this.ctx.ownDeadline) {
      this.ctx.armDeadline(() => {
        const reason = new ConnectError("the call's deadline was exceeded", Code.DeadlineExceeded);
        this.ctx.abort(reason);
        this.fail(reason);
      });
    }
  }

  fail(err: unknown): void {
    if (this.done) return;
    const sent = hideInternals(err) as ConnectError;
    this.finish(err);
    this.sendHeaders();
    this.sendError(grpcStatusOf(sent, this.ctx.trailersToSend()));
  }

  protected finish(err?: unknown): void {
    this.done = true;
    this.ctx.end();
    if (err !== undefined) this.outcomes.failed(this.call.metadata, err);
  }

  protected sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const headers = this.ctx.headersToSend();
    if (headers) this.call.sendMetadata(toMetadata(headers));
  }

  protected trailers(): Metadata | undefined {
    const trailers = this.ctx.trailersToSend();
    return trailers ? toMetadata(trailers) : undefined;
  }

  protected abstract sendError(status: ReturnType<typeof grpcStatusOf>): void;
  /** The client is gone: a handler reading requests sees the reason instead of waiting forever. */
  private closed(reason: ConnectError): void {
    const call = this.call as Partial<ServerReadableStream<Buffer, Buffer>>;
    if (typeof call.read === "function" && !call.destroyed) call.destroy?.(reason);
  }
}

class UnaryReply extends Reply {
  constructor(
    method: DescMethod,
    call: ServerUnaryCall<Buffer, Buffer> | ServerReadableStream<Buffer, Buffer>,
    private readonly callback: sendUnaryData<Buffer>,
    ctx: GrpcCallContext,
    outcomes: CallOutcomes,
  ) {
    super(method, call, ctx, outcomes);
  }

  ok(response: unknown): void {
    if (this.done) return;
    let bytes: Buffer;
    try {
      bytes = encode(this.method.output, response);
    } catch (err) {
      return this.fail(err);
    }
    this.finish();
    this.sendHeaders();
    this.callback(null, bytes, this.trailers());
  }

  protected sendError(status: ReturnType<typeof grpcStatusOf>): void {
    this.callback(status);
  }
}

class StreamReply extends Reply {
  /** The sent callback (encode-self.ts) of each message written and not yet taken, in order. */
  private readonly sent: ((() => void) | undefined)[] = [];

  constructor(
    method: DescMethod,
    private readonly stream: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>,
    ctx: GrpcCallContext,
    outcomes: CallOutcomes,
  ) {
    super(method, stream, ctx, outcomes);
  }

  /** Writes the handler's messages as they come, waiting whenever the client is slower. */
  pump(source: AsyncIterable<unknown>): Promise<void> {
    return pumpResponses(source, {
      ended: () => this.done,
      write: (value, written) => {
        this.sendHeaders();
        // grpc-js copies a message into its frame when HTTP/2 is ready for it, which may be
        // after the next one is written: a self-encoded message hears that it was sent only then.
        this.sent.push(sentCallback(value));
        this.stream.write(encode(this.method.output, value), () => {
          this.sent.shift()?.();
          written();
        });
      },
      signal: () => this.ctx.signal,
    });
  }

  ok(): void {
    if (this.done) return;
    this.finish();
    this.sendHeaders();
    this.stream.end(this.trailers());
  }

  protected sendError(status: ReturnType<typeof grpcStatusOf>): void {
    this.stream.emit("error", status);
  }
}
