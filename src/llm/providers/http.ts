// HTTP to a provider's API: one keep-alive undici Pool per base URL, JSON bodies, SSE responses.
// Node's fetch (under the SDKs) costs 770-1,007 µs CPU a call on loopback; this path costs
// about a tenth of that (measured in bench/llm.ts and the notes of the commit that added it).
// Responses are taken through undici's dispatch handler, not a body stream: a streamed body's
// chunks go straight to the caller's parser, with no Readable and no async iteration between.
import { Pool, type Dispatcher } from "undici";

export interface HeaderGetter {
  get(name: string): string | null;
}

export interface UpstreamRequest {
  method: "GET" | "POST";
  /** Below the base URL's path: "/chat/completions". */
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /**
   * For a streamed (SSE) request: receives each body chunk of a 2xx answer as it arrives.
   * The timeout then covers the wait for headers only, as in the SDKs. A throw aborts the
   * request and rejects with what was thrown.
   */
  onChunk?: (chunk: Buffer) => void;
}

export interface UpstreamReply {
  status: number;
  headers: HeaderGetter;
  /** The whole body; empty for a 2xx answer whose chunks went to onChunk. */
  text: string;
}

export class UpstreamHttp {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, "");
    // Unbounded connections: the gateway's per-provider limiter bounds concurrency.
    this.pool = new Pool(url.origin, { keepAliveTimeout: 30_000 });
  }

  /**
   * Sends one request. Rejects on connection failures, timeouts (a TimeoutError) and aborts
   * (the signal's reason); any HTTP status resolves once the answer is complete.
   */
  send(req: UpstreamRequest): Promise<UpstreamReply> {
    if (req.signal.aborted) return Promise.reject(req.signal.reason);
    return new Promise((resolve, reject) => {
      this.pool.dispatch(
        {
          method: req.method,
          path: this.basePath + req.path,
          headers: req.headers,
          body: req.body,
          headersTimeout: this.timeoutMs,
          // The SDKs bound a whole unary answer by their timeout and a stream's body by nothing.
          bodyTimeout: req.onChunk ? 0 : this.timeoutMs,
        },
        new Exchange(req.signal, req.onChunk, resolve, reject),
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** One request's answer as undici delivers it. */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private streaming = false;
  private readonly chunks: Buffer[] = [];
  private settled = false;

  constructor(
    private readonly signal: AbortSignal,
    private readonly onChunk: ((chunk: Buffer) => void) | undefined,
    private readonly resolve: (reply: UpstreamReply) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  private readonly onAbort = (): void => {
    this.controller?.abort(this.signal.reason as Error);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted) controller.abort(this.signal.reason as Error);
    else this.signal.addEventListener("abort", this.onAbort, ONCE);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = status;
    this.headers = headers;
    this.streaming = this.onChunk !== undefined && status >= 200 && status < 300;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.streaming) {
      this.chunks.push(chunk);
      return;
    }
    try {
      this.onChunk!(chunk);
    } catch (err) {
      controller.abort(err as Error);
    }
  }

  onResponseEnd(): void {
    if (this.settle()) return;
    const text = this.chunks.length === 1 ? this.chunks[0].toString("utf8") : Buffer.concat(this.chunks).toString("utf8");
    this.resolve({ status: this.status, headers: headerGetter(this.headers), text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settle()) return;
    this.reject(asTimeout(err));
  }

  /** True when already settled; otherwise settles and lets go of the signal. */
  private settle(): boolean {
    if (this.settled) return true;
    this.settled = true;
    this.signal.removeEventListener("abort", this.onAbort);
    return false;
  }
}

const ONCE = { once: true } as const;

/** The upstream did not answer within the provider's timeout. */
export class TimeoutError extends Error {
  constructor(cause: unknown) {
    super("Request timed out.", { cause });
    this.name = "TimeoutError";
  }
}

function asTimeout(err: unknown): unknown {
  const code = (err as { code?: string } | undefined)?.code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" ? new TimeoutError(err) : err;
}

function headerGetter(headers: Record<string, string | string[] | undefined>): HeaderGetter {
  return {
    get(name) {
      const v = headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

/** The JSON in `text`, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** One server-sent event: its `event` field (null when absent) and its data lines joined by "\n". */
export interface SseEvent {
  event: string | null;
  data: string;
}

/** What an event handler of readEvents says: go on (undefined), stop reading ("done"), or fail with this. */
export type EventVerdict = undefined | "done" | Error;

/**
 * Reads a streamed answer's server-sent events: `send` posts the request and hands over each
 * body chunk, `onEvent` sees every event until it answers "done" (what follows is read and
 * ignored, as the SDKs do) or an error, which fails the stream (a chunk that brings one
 * aborts the request). Throws that error once the body has ended.
 */
export async function readEvents(send: (onChunk: (chunk: Buffer) => void) => Promise<unknown>, onEvent: (e: SseEvent) => EventVerdict): Promise<void> {
  let ended = false;
  let failure: Error | undefined;
  const parser = new SseParser((e) => {
    if (ended || failure !== undefined) return;
    const verdict = onEvent(e);
    if (verdict === "done") ended = true;
    else if (verdict !== undefined) failure = verdict;
  });
  await send((chunk) => {
    parser.feed(chunk);
    if (failure !== undefined) throw failure;
  });
  if (!ended) parser.end();
  if (failure !== undefined) throw failure;
}

/**
 * Parses server-sent events as the SDKs do (LF, CRLF or CR line ends; comments; `data:` with
 * or without a space; several data lines per event; a last event without its blank line).
 * Fed chunk by chunk, it hands every complete event of a chunk to `onEvent` at once.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffered = "";
  private event: string | null = null;
  private data: string[] = [];
  private pendingCR = false;

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  feed(chunk: Uint8Array): void {
    let text = this.decoder.decode(chunk, { stream: true });
    if (this.pendingCR) {
      // A CR ended the last chunk: a LF starting this one belongs to the same line end.
      this.pendingCR = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    text = this.buffered + text;
    let start = 0;
    // Where the next CR is, found once per chunk and again only when passed: most streams
    // have none, and searching the rest of the chunk for one at every line is quadratic.
    let cr = text.indexOf("\r");
    for (;;) {
      if (cr !== -1 && cr < start) cr = text.indexOf("\r", start);
      const lf = text.indexOf("\n", start);
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        if (lf === -1) break;
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 === text.length) {
          this.pendingCR = true;
          next = cr + 1;
        } else next = text.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      }
      this.line(text.slice(start, end));
      start = next;
    }
    this.buffered = start === 0 ? text : text.slice(start);
  }

  /** The body ended: a last line or event without its terminator still counts. */
  end(): void {
    const rest = this.buffered + this.decoder.decode();
    this.buffered = "";
    if (rest) this.line(rest);
    if (this.event !== null || this.data.length > 0) this.line("");
  }

  private line(line: string): void {
    if (line === "") {
      if (this.event === null && this.data.length === 0) return;
      const e = { event: this.event, data: this.data.length === 1 ? this.data[0] : this.data.join("\n") };
      this.event = null;
      this.data = [];
      this.onEvent(e);
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
  }
}
