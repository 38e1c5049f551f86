// The OpenAI-compatible HTTP API (/v1/*) on the server's port: an adapter over the LLM gateway,
// with the RPCs' auth gate, deadlines and per-RPC metrics (recorded as the LLMService method
// each endpoint stands for, with the code the client received).
import type http from "node:http";
import type http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { Gateway, GenerateCall } from "../llm/gateway.js";
import { isPromise } from "../platform/is-promise.js";
import type { RequestHandler } from "../platform/listener.js";
import { startServerSpan } from "../platform/tracing/index.js";
import { HttpCall, type HttpRouteRequest, type HttpRouteResponse } from "../platform/http-call.js";
import type { HttpRoute, HttpRoutePlatform } from "../platform/module.js";
import { closeOnAbort } from "../platform/streams.js";
import { errorReply, OpenAIRequestError } from "./errors.js";
import { cacheModeOf, chatRequest, completionRequest, embeddingsRequest, parseBody, type GenerateRequest } from "./requests.js";
import { answerBody, ChunkWriter, embeddingsBody, modelJson, modelsBody, newId, type Kind } from "./responses.js";

type Req = HttpRouteRequest;
type Res = HttpRouteResponse;

const PREFIX = "/v1/";
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

/** A call of this API: answers failures in OpenAI's error shape. */
class Call extends HttpCall {
  /** Answers a failure: as JSON, or as the stream's last event once the stream has begun. */
  fail(err: unknown): void {
    if (!(err instanceof ConnectError)) this.p.log.error({ err }, "openai api: unexpected failure");
    const reply = errorReply(err);
    if (!this.res.headersSent) return this.json(reply.status, reply.body, reply.headers, err);
    this.res.end(`data: ${reply.body}\n\n`);
    this.finish(err);
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
