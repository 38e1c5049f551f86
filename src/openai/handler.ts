// The OpenAI-compatible HTTP API (/v1/*) on the server's port: an adapter over the LLM gateway,
// with the RPCs' auth gate, deadlines and per-RPC metrics (recorded as the LLMService method
// each endpoint stands for, with the code the client received).
import type http from "node:http";
import type http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { Gateway, GenerateCall } from "../llm/gateway.js";
import { isPromise } from "../platform/is-promise.js";
import type { RequestHandler } from "../platform/listener.js";
import { startServerSpan, type RequestSpan } from "../platform/tracing/index.js";
import type { HttpRoute, HttpRoutePlatform } from "../platform/module.js";
import { closeOnAbort } from "../platform/streams.js";
import { errorReply, OpenAIRequestError } from "./errors.js";
import { cacheModeOf, chatRequest, completionRequest, embeddingsRequest, parseBody, type GenerateRequest } from "./requests.js";
import { answerBody, ChunkWriter, embeddingsBody, modelJson, modelsBody, newId, type Kind } from "./responses.js";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
/** What this API uses of node's HTTP/1.1 and HTTP/2 compat responses (both fit). */
interface Res {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): boolean;
  end(chunk?: string): unknown;
  once(event: "close", listener: () => void): unknown;
}

const PREFIX = "/v1/";
const JSON_HEADERS = { "content-type": "application/json" } as const;
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" } as const;
const M = LLMService.method;

/** The /v1/* route the LLM module serves. */
export function openaiRoute(gateway: Gateway): HttpRoute {
  return { prefix: PREFIX, create: (platform) => createOpenAIHandler(gateway, platform) };
}

export function createOpenAIHandler(gateway: Gateway, p: HttpRoutePlatform): RequestHandler {
  async function chat(call: Call, r: GenerateRequest, kind: Kind): Promise<void> {
    const gc: GenerateCall = {
      model: r.model,
      messages: r.messages,
      params: r.params,
      cacheMode: cacheModeOf(call.req.headers["x-openloop-cache"]),
      signal: call.abort.signal,
      deadline: call.deadline,
    };
    const id = newId(kind);
    const created = Math.floor(Date.now() / 1000);
    if (!r.stream) {
      call.json(200, answerBody(kind, id, created, await gateway.generate(gc)));
      return;
    }
    call.method = M.generateStream;
    const chunks = new ChunkWriter(kind, id, created, r.model, r.includeUsage);
    const res = call.res;
    // Headers wait for the first item: a failure before it (an unknown model) is a proper status.
    for await (const item of closeOnAbort(gateway.stream(gc), call.abort.signal)) {
      if (!res.headersSent) {
        res.writeHead(200, SSE_HEADERS);
        res.write(chunks.head());
      }
      if (item.type === "delta") res.write(chunks.delta(item.text));
      else res.end(chunks.end(item));
    }
    call.finish(undefined);
  }

  async function route(call: Call, path: string): Promise<void> {
    const { req } = call;
    // The key is checked against the method the request stands for (scopes, rate limits).
    call.method = path === "embeddings" ? M.embed : path === "models" || path.startsWith("models/") ? M.listModels : M.generate;
    const admission = p.auth?.(call.method, req.headers.authorization);
    call.hold(isPromise(admission) ? await admission : admission);
    const method = req.method;
    if (method === "POST" && (path === "chat/completions" || path === "completions" || path === "embeddings")) {
      const body = parseBody(await readBody(req, p.maxMessageBytes));
      if (path === "embeddings") {
        call.method = M.embed;
        const r = embeddingsRequest(body);
        const e = await gateway.embed({ model: r.model, inputs: r.inputs, dimensions: r.dimensions, signal: call.abort.signal, deadline: call.deadline });
        return call.json(200, embeddingsBody(e, r.base64));
      }
      return path === "completions" ? chat(call, completionRequest(body), "completion") : chat(call, chatRequest(body), "chat");
    }
    if (method === "GET" && (path === "models" || path.startsWith("models/"))) {
      call.method = M.listModels;
      const models = await gateway.listModels(undefined);
      if (path === "models") return call.json(200, modelsBody(models));
      const id = decodeURIComponent(path.slice("models/".length));
      const found = models.find((m) => m.id === id || m.aliases.includes(id));
      if (!found) throw new OpenAIRequestError(`The model '${id}' does not exist`, "model", Code.NotFound);
      return call.json(200, JSON.stringify(modelJson(id, found)));
    }
    throw new OpenAIRequestError(`Unknown request URL: ${method} ${req.url?.split("?")[0]}`, null, Code.Unimplemented);
  }

  // The request entry: every /v1/* request starts here.
  return function serveOpenAI(req: Req, res: http.ServerResponse | http2.Http2ServerResponse) {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = (q < 0 ? url : url.slice(0, q)).slice(PREFIX.length);
    const call = new Call(p, req, res as Res, M.generate);
    // A W3C traceparent from the client becomes the parent of this request's span (when tracing runs).
    call.span = startServerSpan(`${req.method ?? "GET"} /v1/${path}`, req.headers, { "http.request.method": req.method ?? "", "url.path": `/v1/${path}` });
    const serve = () => route(call, path).catch((err: unknown) => call.fail(err));
    if (call.span) call.span.run(serve);
    else void serve();
  };
}

const ONCE = { once: true } as const;

/** One call's life: abort on client disconnect, deadline and shutdown; metrics once at the end. */
class Call {
  readonly started: number;
  readonly abort = new AbortController();
  readonly deadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Frees the key's stream slot, when the auth gate took one. */
  private release: (() => void) | undefined;
  span: RequestSpan | undefined;

  constructor(
    private readonly p: HttpRoutePlatform,
    readonly req: Req,
    readonly res: Res,
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

  json(status: number, body: string, headers: Record<string, string> = JSON_HEADERS, err?: unknown): void {
    this.res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
    this.res.end(body);
    this.finish(err);
  }

  /** Answers a failure: as JSON, or as the stream's last event once the stream has begun. */
  fail(err: unknown): void {
    if (!(err instanceof ConnectError)) this.p.log.error({ err }, "openai api: unexpected failure");
    const reply = errorReply(err);
    if (!this.res.headersSent) return this.json(reply.status, reply.body, reply.headers, err);
    this.res.end(`data: ${reply.body}\n\n`);
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

/** The request body as text, refused beyond `max` bytes. */
function readBody(req: Req, max: number): Promise<string> {
  const declared = Number(req.headers["content-length"]);
  if (declared > max) return Promise.reject(tooLarge(max));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners("data");
        req.resume();
        return reject(tooLarge(max));
      }
      chunks.push(c);
    });
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

function tooLarge(max: number): OpenAIRequestError {
  return new OpenAIRequestError(`the request body exceeds server.maxMessageBytes (${max} bytes)`, null);
}
