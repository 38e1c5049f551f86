// One call of a plain HTTP route (HttpRoute) with what the RPCs get from their transports: an
// abort signal for a client that goes away, the default deadline and shutdown; the key's slot
// held until the end; the call's span; and the per-RPC metrics, recorded once as the method the
// request stands for, with the error the client received.
import type http from "node:http";
import type http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HttpRoutePlatform } from "./module.js";
import type { RequestSpan } from "./tracing/index.js";

export type HttpRouteRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** What a route uses of node's HTTP/1.1 and HTTP/2 compat responses (both fit). */
export interface HttpRouteResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string | Uint8Array, callback?: (err?: Error | null) => void): boolean;
  end(chunk?: string): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
  /** Resets the stream (HTTP/2) or closes the connection (HTTP/1.1): a body the client must not take as whole. */
  destroy(err?: Error): unknown;
}

const ONCE = { once: true } as const;
const JSON_HEADERS = { "content-type": "application/json" } as const;

export class HttpCall {
  readonly started: number;
  readonly abort = new AbortController();
  readonly deadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Frees the key's stream slot, when the auth gate took one. */
  private release: (() => void) | undefined;
  span: RequestSpan | undefined;

  constructor(
    protected readonly p: HttpRoutePlatform,
    readonly req: HttpRouteRequest,
    readonly res: HttpRouteResponse,
    public method: DescMethod,
  ) {
    this.started = p.observer.begin();
    const ms = p.defaultDeadlineMs;
    if (ms > 0) {
      this.deadline = Date.now() + ms;
      this.timer = setTimeout(() => this.abort.abort(new ConnectError("the call's deadline passed", Code.DeadlineExceeded)), ms);
    }
    res.once("close", this.onClose);
    if (p.shutdown.aborted) this.abort.abort(p.shutdown.reason);
    else p.shutdown.addEventListener("abort", this.onShutdown, ONCE);
  }

  private readonly onClose = () => {
    if (!this.res.writableFinished) this.abort.abort(new ConnectError("the client went away", Code.Canceled));
    this.finish(this.abort.signal.aborted ? this.abort.signal.reason : undefined);
  };
  private readonly onShutdown = () => this.abort.abort(this.p.shutdown.reason);

  /** Keeps the key's stream slot until the call ends (frees it at once if it already has, while the gate was asked). */
  hold(release: (() => void) | undefined): void {
    if (this.finished) release?.();
    else this.release = release;
  }

  /** Answers with a whole body; `err` is what the metrics record for it. */
  json(status: number, body: string, headers: Record<string, string> = JSON_HEADERS, err?: unknown): void {
    this.res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
    this.res.end(body);
    this.finish(err);
  }

  finish(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.release?.();
    this.span?.end(err);
    clearTimeout(this.timer);
    this.p.shutdown.removeEventListener("abort", this.onShutdown);
    this.p.observer.finish(this.method, this.started, err);
  }
}
