// A scripted HTTP server on loopback for fakes of LLM provider APIs. Each provider fake
// (fake-openai.ts, fake-anthropic.ts, fake-cohere.ts) supplies its wire format as a Dialect;
// tests script what the next requests get (answers, errors, slow or broken streams) and
// observe what arrived, including clients that closed the connection early.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Answer {
  /** Streamed as these pieces; joined for a non-streamed answer. */
  deltas: string[];
  inputTokens: number;
  outputTokens: number;
}

export type Behaviour =
  /**
   * delayMs: before the headers; deltaDelayMs: between deltas; gate: answer only once it
   * settles; deltaGate(i): send delta i (i >= 1) only once it settles.
   */
  | ({ kind: "answer"; delayMs?: number; deltaDelayMs?: number; gate?: Promise<void>; deltaGate?: (index: number) => Promise<void> } & Partial<Answer>)
  /** An HTTP error with the provider's error body. */
  | { kind: "error"; status: number; message?: string; headers?: Record<string, string> }
  /** Streams these deltas, then destroys the connection without the closing events. */
  | { kind: "break"; deltas: string[] }
  /** Streams these deltas, then the dialect's in-stream error event, then ends the response. */
  | { kind: "stream-error"; deltas: string[]; message: string }
  /** Sends nothing until the client gives up. */
  | { kind: "hang" };

export interface SseFrame {
  event?: string;
  data: string;
}

export interface Dialect {
  chatPath: string;
  modelsPath: string;
  isStream(body: Record<string, unknown>): boolean;
  /** Rejects a request whose credentials are wrong, in the provider's way (status and body). */
  authorized(headers: http.IncomingHttpHeaders, apiKey: string): boolean;
  json(answer: Answer, body: Record<string, unknown>): unknown;
  sse(answer: Answer, body: Record<string, unknown>): { head: SseFrame[]; delta(text: string): SseFrame; tail: SseFrame[] };
  errorBody(status: number, message: string): unknown;
  /** The event an API sends when it fails after a stream has begun (for dialects that have one). */
  streamError?(message: string): SseFrame;
  models(ids: string[]): unknown;
  /** The embeddings endpoint, for dialects that have one: its path and its answer to a request. */
  embeddingsPath?: string;
  embeddings?(body: Record<string, unknown>): unknown;
}

/** The vector the fakes embed a text as: deterministic, and exact in float32 (multiples of 1/8). */
export function fakeVector(text: string, dimensions = 4): number[] {
  let sum = 0;
  for (const ch of text) sum += ch.codePointAt(0)!;
  return Array.from({ length: dimensions }, (_, i) => (((sum + 31 * i) % 97) - 48) / 8);
}

/** The token count the fakes report for embedding texts: their words. */
export function fakeTokens(texts: readonly string[]): number {
  return texts.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The request target as sent, query included. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** The body as it arrived, for tests that compare requests byte for byte. */
  raw: string;
  /** Header names and values in the order they arrived. */
  rawHeaders: string[];
}

export const DEFAULT_ANSWER: Answer = { deltas: ["Hello", ", ", "world", "!"], inputTokens: 12, outputTokens: 4 };

export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  /** Chat requests whose client closed the connection before the response ended. */
  clientAborts = 0;
  /** Chat requests being answered right now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Used when the script is empty. */
  fallback: Behaviour = { kind: "answer" };
  modelIds: string[] = ["fake-model-a", "fake-model-b"];
  private readonly script: Behaviour[] = [];
  private readonly server: http.Server;
  private readonly waiters: Array<() => void> = [];
  private readonly sockets = new Set<import("node:net").Socket>();
  private port = 0;

  private constructor(
    private readonly dialect: Dialect,
    readonly apiKey: string,
    private readonly basePath: string,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  static async start(dialect: Dialect, opts: { apiKey: string; basePath?: string }): Promise<FakeLlmServer> {
    const fake = new FakeLlmServer(dialect, opts.apiKey, opts.basePath ?? "");
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** The URL to give an SDK as its base URL. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}${this.basePath}`;
  }

  /** The next requests get these behaviours, in order. */
  enqueue(...behaviours: Behaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(this.dialect.chatPath));
  }

  /** Resolves once `predicate` holds (checked after each request and each client abort). */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  reset(): void {
    this.requests.length = 0;
    this.script.length = 0;
    this.clientAborts = 0;
    this.maxInFlight = this.inFlight;
    this.fallback = { kind: "answer" };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return this.send(res, 400, this.dialect.errorBody(400, "request body is not JSON"));
    }
    const path = (req.url ?? "/").split("?")[0];
    this.requests.push({ method: req.method ?? "GET", path, url: req.url ?? "/", headers: req.headers, body, raw: text, rawHeaders: req.rawHeaders });
    this.wake();

    if (!this.dialect.authorized(req.headers, this.apiKey)) {
      return this.send(res, 401, this.dialect.errorBody(401, `invalid api key '${String(req.headers.authorization ?? req.headers["x-api-key"] ?? "")}'`));
    }
    if (req.method === "GET" && path === this.basePath + this.dialect.modelsPath) {
      return this.send(res, 200, this.dialect.models(this.modelIds));
    }
    if (req.method === "POST" && this.dialect.embeddingsPath && path === this.basePath + this.dialect.embeddingsPath) {
      const behaviour = this.script.shift() ?? this.fallback;
      if (behaviour.kind === "error") {
        return this.send(res, behaviour.status, this.dialect.errorBody(behaviour.status, behaviour.message ?? "fake failure"), behaviour.headers);
      }
      return this.send(res, 200, this.dialect.embeddings!(body));
    }
    if (req.method !== "POST" || path !== this.basePath + this.dialect.chatPath) {
      return this.send(res, 404, this.dialect.errorBody(404, `no route ${req.method} ${path}`));
    }

    let finished = false;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    // Out of flight once the last byte is handed to the socket ("finish"), or the connection closed.
    let counted = true;
    const landed = () => {
      if (counted) this.inFlight--;
      counted = false;
    };
    res.once("finish", landed);
    res.on("close", () => {
      landed();
      if (!finished) {
        this.clientAborts++;
        this.wake();
      }
    });
    const behaviour = this.script.shift() ?? this.fallback;
    const stream = this.dialect.isStream(body);
    switch (behaviour.kind) {
      case "hang":
        return;
      case "error":
        finished = true;
        return this.send(res, behaviour.status, this.dialect.errorBody(behaviour.status, behaviour.message ?? "fake failure"), behaviour.headers);
      case "break": {
        const answer = { ...DEFAULT_ANSWER, deltas: behaviour.deltas };
        const frames = this.dialect.sse(answer, body);
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        for (const f of frames.head) res.write(sse(f));
        for (const d of behaviour.deltas) res.write(sse(frames.delta(d)));
        finished = true;
        // Let the written frames reach the client, then cut the connection mid-stream.
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      case "stream-error": {
        const frames = this.dialect.sse({ ...DEFAULT_ANSWER, deltas: behaviour.deltas }, body);
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        for (const f of frames.head) res.write(sse(f));
        for (const d of behaviour.deltas) res.write(sse(frames.delta(d)));
        res.write(sse(this.dialect.streamError!(behaviour.message)));
        finished = true;
        res.end();
        return;
      }
      case "answer": {
        const answer: Answer = {
          deltas: behaviour.deltas ?? DEFAULT_ANSWER.deltas,
          inputTokens: behaviour.inputTokens ?? DEFAULT_ANSWER.inputTokens,
          outputTokens: behaviour.outputTokens ?? DEFAULT_ANSWER.outputTokens,
        };
        if (behaviour.delayMs) await delay(behaviour.delayMs);
        if (behaviour.gate) await behaviour.gate;
        if (res.destroyed) return;
        if (!stream) {
          finished = true;
          return this.send(res, 200, this.dialect.json(answer, body));
        }
        const frames = this.dialect.sse(answer, body);
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        for (const f of frames.head) res.write(sse(f));
        for (const [i, d] of answer.deltas.entries()) {
          if (behaviour.deltaDelayMs && i > 0) await delay(behaviour.deltaDelayMs);
          if (behaviour.deltaGate && i > 0) await behaviour.deltaGate(i);
          if (res.destroyed) return;
          res.write(sse(frames.delta(d)));
        }
        for (const f of frames.tail) res.write(sse(f));
        finished = true;
        res.end();
        return;
      }
    }
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}

function sse(frame: SseFrame): string {
  return (frame.event ? `event: ${frame.event}\n` : "") + `data: ${frame.data}\n\n`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
