// The HandlerContext a handler sees for a gRPC call (our own transport or grpc-js). Everything a
// handler rarely reads (the abort signal, headers, context values) is built on first
// use, so a call that reads none of it allocates none of it.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ConnectError, Code, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/** What the context needs of a call, whichever transport carries it. */
export interface CallSurface {
  readonly cancelled: boolean;
  /** Runs `listener` when the call is cancelled, or (grpc-js) when it ends. */
  once(event: "cancelled", listener: () => void): unknown;
  /** The request's metadata. */
  headers(): Headers;
}

export class GrpcCallContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  private controller: AbortController | undefined;
  private requestHeaders: Headers | undefined;
  private responseHeaders: Headers | undefined;
  private responseTrailers: Headers | undefined;
  private contextValues: ContextValues | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private onShutdown: (() => void) | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly call: CallSurface,
    /** Epoch milliseconds (the client's deadline or the server's default), or Infinity. */
    readonly deadline: number,
    private readonly shutdown: AbortSignal,
    /** True when the deadline is the server's default rather than the client's (grpc-js enforces only the client's). */
    readonly ownDeadline: boolean,
  ) {}

  get service(): DescService {
    return this.method.parent;
  }

  get url(): string {
    return `/${this.method.parent.typeName}/${this.method.name}`;
  }

  timeoutMs(): number | undefined {
    return this.deadline === Infinity ? undefined : Math.max(0, this.deadline - Date.now());
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      if (this.ended) return controller.signal;
      const shutdown = this.shutdown;
      if (shutdown.aborted) controller.abort(ConnectError.from(shutdown.reason, Code.Unavailable));
      else shutdown.addEventListener("abort", (this.onShutdown = () => this.abort(ConnectError.from(shutdown.reason, Code.Unavailable))), ONCE);
      if (this.call.cancelled) this.cancelled();
      // grpc-js reports every call that ends as cancelled, ours included: only an early one counts.
      else this.call.once("cancelled", () => void (this.ended || this.cancelled()));
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    return (this.requestHeaders ??= this.call.headers());
  }

  get responseHeader(): Headers {
    return (this.responseHeaders ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.responseTrailers ??= new Headers());
  }

  get values(): ContextValues {
    return (this.contextValues ??= createContextValues());
  }

  /** Response headers the handler set, if any. */
  headersToSend(): Headers | undefined {
    return this.responseHeaders;
  }

  /** Trailers the handler set, if any. */
  trailersToSend(): Headers | undefined {
    return this.responseTrailers;
  }

  /** Aborts the handler's work with `reason` (a cancelled call, a passed deadline, shutdown). */
  abort(reason: ConnectError): void {
    if (this.controller && !this.controller.signal.aborted) this.controller.abort(reason);
  }

  /**
   * Arms the server's own deadline timer: for the default deadline (grpc-js only enforces
   * the client's), and so that handlers learn of a passed deadline the moment it passes.
   */
  armDeadline(onExpired: () => void): void {
    if (this.deadline === Infinity || this.ended) return;
    const ms = Math.max(0, this.deadline - Date.now());
    // Node fires a longer timer at once; a deadline weeks away is left to the client.
    if (ms > MAX_TIMER_MS) return;
    this.timer = setTimeout(onExpired, ms);
  }

  /** True once the deadline has passed. */
  expired(): boolean {
    return Date.now() >= this.deadline;
  }

  /** The call is over: drop timers and listeners. */
  end(): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onShutdown) this.shutdown.removeEventListener("abort", this.onShutdown);
  }

  /** grpc-js reports the call gone before it ended: the client cancelled, or its deadline passed. */
  cancelled(): ConnectError {
    const reason = this.expired() ? new ConnectError("the call's deadline was exceeded", Code.DeadlineExceeded) : new ConnectError("the client cancelled the call", Code.Canceled);
    if (!this.ended) this.abort(reason);
    return reason;
  }
}

const ONCE = { once: true } as const;
const MAX_TIMER_MS = 2 ** 31 - 1;
