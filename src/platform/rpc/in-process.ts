// Calls between the services of one process: a connect-es Transport that invokes the
// implementation directly, with no serialization. A caller holds a typed client
// (createClient(Service, transport)) exactly as it would over the network, and the callee
// sees the same HandlerContext (deadline, signal, headers); only the wire is skipped.
import { create, isMessage, type DescMessage, type DescMethod, type DescMethodStreaming, type DescMethodUnary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import type { ServiceBinding } from "./binding.js";

type Impl = (input: unknown, ctx: HandlerContext) => unknown;

/** A transport to `bindings`; a method they do not implement answers UNIMPLEMENTED. */
export function createInProcessTransport(bindings: readonly ServiceBinding[]): Transport {
  const impls = new Map<string, Impl>();
  for (const b of bindings) {
    for (const m of b.desc.methods) {
      const fn = (b.impl as Record<string, unknown>)[m.localName];
      if (typeof fn === "function") impls.set(pathOf(m), fn.bind(b.impl) as Impl);
    }
  }
  const implOf = (method: DescMethod): Impl => {
    const impl = impls.get(pathOf(method));
    if (!impl) throw new ConnectError(`${pathOf(method)} is not served in this process`, Code.Unimplemented);
    return impl;
  };

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: unknown,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const ctx = new InProcessContext(method, signal, timeoutMs, header, contextValues);
      try {
        const output = await ctx.race(implOf(method)(normalize(method.input, input), ctx));
        return { stream: false, service: method.parent, method, header: ctx.responseHeader, trailer: ctx.responseTrailer, message: normalize(method.output, output) as never };
      } catch (err) {
        throw ConnectError.from(err, Code.Internal);
      } finally {
        ctx.end();
      }
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<unknown>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const ctx = new InProcessContext(method, signal, timeoutMs, header, contextValues);
      const impl = implOf(method);
      const requests = mapIterable(input, (m) => normalize(method.input, m));
      let output: unknown;
      if (method.methodKind === "server_streaming") {
        let first: unknown;
        for await (const m of requests) {
          first = m;
          break;
        }
        output = impl(first ?? create(method.input), ctx);
      } else {
        output = impl(requests, ctx);
      }
      const responses =
        method.methodKind === "client_streaming"
          ? (async function* () {
              yield await ctx.race(output as Promise<unknown>);
            })()
          : (output as AsyncIterable<unknown>);
      async function* messages(): AsyncGenerator<unknown> {
        let complete = false;
        try {
          for await (const m of responses) {
            if (ctx.signal.aborted) throw ctx.signal.reason;
            yield normalize(method.output, m);
          }
          complete = true;
        } catch (err) {
          throw ConnectError.from(err, Code.Internal);
        } finally {
          // A caller that stops reading cancels the call, as a client going away would.
          if (!complete) ctx.cancel();
          ctx.end();
        }
      }
      return { stream: true, service: method.parent, method, header: ctx.responseHeader, trailer: ctx.responseTrailer, message: messages() as never };
    },
  };
}

const pathOf = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;

function normalize(schema: DescMessage, value: unknown): unknown {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

async function* mapIterable<T, U>(source: AsyncIterable<T>, fn: (t: T) => U): AsyncGenerator<U> {
  for await (const t of source) yield fn(t);
}

/** The callee's view of an in-process call: the caller's signal and deadline, and headers. */
class InProcessContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly protocolName = "in-process";
  readonly requestHeader: Headers;
  readonly responseHeader = new Headers();
  readonly responseTrailer = new Headers();
  readonly values: ContextValues;
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly deadline: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly onCallerAbort: (() => void) | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly callerSignal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    contextValues: ContextValues | undefined,
  ) {
    this.requestHeader = new Headers(header);
    this.values = contextValues ?? createContextValues();
    this.signal = this.controller.signal;
    this.deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.controller.abort(new ConnectError("the call's deadline was exceeded", Code.DeadlineExceeded)), Math.max(0, timeoutMs));
    }
    if (callerSignal) {
      if (callerSignal.aborted) this.controller.abort(ConnectError.from(callerSignal.reason, Code.Canceled));
      else callerSignal.addEventListener("abort", (this.onCallerAbort = () => this.controller.abort(ConnectError.from(callerSignal.reason, Code.Canceled))), { once: true });
    }
  }

  get service() {
    return this.method.parent;
  }

  get url(): string {
    return pathOf(this.method);
  }

  timeoutMs(): number | undefined {
    return this.deadline === Infinity ? undefined : Math.max(0, this.deadline - Date.now());
  }

  /** Settles with `result`, or rejects as soon as the call is aborted (deadline, caller). */
  race<T>(result: T | Promise<T>): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    if (!(result instanceof Promise)) return Promise.resolve(result);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.signal.reason);
      this.signal.addEventListener("abort", onAbort, { once: true });
      result.then(
        (v) => {
          this.signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e: unknown) => {
          this.signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }

  cancel(): void {
    if (!this.signal.aborted) this.controller.abort(new ConnectError("the caller stopped reading", Code.Canceled));
  }

  end(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.onCallerAbort) this.callerSignal?.removeEventListener("abort", this.onCallerAbort);
  }
}
