// Cohere v2 Chat. The requests are those the official cohere-ai SDK sends (same headers, same
// JSON; test/llm/wire.test.ts compares both on one fake), built here and sent on an undici Pool,
// for the reasons openai.ts gives.
import { missingKey, providerError, truncatedStream } from "./errors.js";
import { parseJson, readEvents, TimeoutError, UpstreamHttp, type EventVerdict, type SseEvent, type UpstreamReply } from "./http.js";
import type { EmbedRequest, EmbedResult, FinishReason, Provider, ProviderRequest, ProviderResult, StreamEnd, Usage } from "./provider.js";
import { ProviderError } from "./provider.js";

export const COHERE_BASE_URL = "https://api.cohere.com";
/** The cohere-ai release whose requests these are (its package exports no version; the wire test checks it). */
const SDK_VERSION = "8.1.0";
/** The name the SDK was given as clientName, sent as X-Client-Name. */
const CLIENT_NAME = "openloop";
/** Models listed at most (pages of 1,000). */
const MAX_MODELS = 10_000;

export interface CohereProviderOptions {
  apiKey?: string;
  baseUrl?: string;
  timeoutMs: number;
}

/** The chat request body as the SDK serializes it (snake_case, its field order). */
interface ChatBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  max_tokens?: number;
  temperature?: number;
  p?: number;
  stop_sequences?: string[];
  seed?: number;
  stream: boolean;
}

/** The embed request body as the SDK serializes it. */
interface EmbedBody {
  texts: string[];
  model: string;
  input_type: string;
  embedding_types: string[];
  output_dimension?: number;
}

interface WireUsage {
  tokens?: { input_tokens?: number; output_tokens?: number };
  billed_units?: { input_tokens?: number; output_tokens?: number };
}

interface ChatPayload {
  type?: string;
  finish_reason?: string;
  message?: { content?: Array<{ type?: string; text?: string }> };
  usage?: WireUsage;
  delta?: { message?: { content?: { text?: string } }; finish_reason?: string; usage?: WireUsage; error?: string };
}

export class CohereProvider implements Provider {
  private readonly http: UpstreamHttp;
  private readonly apiKey: string | undefined;
  private readonly headers: { get: Record<string, string>; post: Record<string, string>; stream: Record<string, string> };

  constructor(
    readonly name: string,
    options: CohereProviderOptions,
  ) {
    this.apiKey = options.apiKey;
    this.http = new UpstreamHttp((options.baseUrl ?? COHERE_BASE_URL).replace(/\/+$/, ""), options.timeoutMs);
    const common = {
      authorization: `Bearer ${options.apiKey ?? ""}`,
      "x-fern-language": "JavaScript",
      "x-fern-sdk-name": "cohere-ai",
      "x-fern-sdk-version": SDK_VERSION,
      "user-agent": `cohere-ai/${SDK_VERSION}`,
      "x-fern-runtime": "node",
      "x-fern-runtime-version": process.versions.node,
      "x-client-name": CLIENT_NAME,
    };
    this.headers = {
      get: { Accept: "*/*", ...common },
      post: { Accept: "*/*", "Content-Type": "application/json", ...common },
      // The SDK asks fetch not to cache a stream, which sends these two.
      stream: { Accept: "text/event-stream", "Content-Type": "application/json", ...common, pragma: "no-cache", "cache-control": "no-cache" },
    };
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = parseJson((await this.post(this.body(req, false), req.signal)).text) as ChatPayload | undefined;
      if (!res?.message) throw new ProviderError(`provider '${this.name}' answered without a message`, "unavailable");
      let text = "";
      for (const item of res.message.content ?? []) if (item.type === "text") text += item.text ?? "";
      return { text, finishReason: finishReason(res.finish_reason), usage: usage(res.usage) };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
    this.checkKey();
    let done: StreamEnd | undefined;
    // As the SDK reads the stream: every event's data is a JSON event, up to a "[DONE]" if any.
    const onEvent = (e: SseEvent): EventVerdict => {
      if (e.data === "[DONE]") return "done";
      const event = parseJson(e.data) as ChatPayload | undefined;
      if (event === undefined) return new ProviderError(`provider '${this.name}' sent a stream event that is not JSON`, "unavailable");
      if (event.type === "content-delta") {
        const text = event.delta?.message?.content?.text;
        if (text) onDelta(text);
      } else if (event.type === "message-end") {
        if (event.delta?.error) return new ProviderError(`provider '${this.name}' failed mid-stream: ${event.delta.error}`, "unavailable");
        done = { finishReason: finishReason(event.delta?.finish_reason), usage: usage(event.delta?.usage) };
      }
      return undefined;
    };
    try {
      await readEvents((onChunk) => this.post(this.body(req, true), req.signal, onChunk), onEvent);
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (!done) throw truncatedStream(this.name);
    return done;
  }

  /** POST /v2/embed; texts are embedded as documents to search (input_type is required from v3 models on). */
  async embed(req: EmbedRequest): Promise<EmbedResult> {
    this.checkKey();
    const body: EmbedBody = { texts: req.inputs, model: req.upstreamModel, input_type: "search_document", embedding_types: ["float"] };
    if (req.dimensions !== undefined) body.output_dimension = req.dimensions;
    try {
      const res = await this.http.send({ method: "POST", path: "/v2/embed", headers: this.headers.post, body: JSON.stringify(body), signal: req.signal });
      if (res.status < 200 || res.status >= 300) throw statusError(res);
      const payload = parseJson(res.text) as { embeddings?: { float?: number[][] }; meta?: { billed_units?: { input_tokens?: number } } } | undefined;
      const vectors = payload?.embeddings?.float;
      if (!Array.isArray(vectors) || vectors.length !== req.inputs.length) {
        throw new ProviderError(`provider '${this.name}' answered ${Array.isArray(vectors) ? vectors.length : "no"} embeddings for ${req.inputs.length} texts`, "unavailable");
      }
      return { vectors, inputTokens: payload?.meta?.billed_units?.input_tokens ?? 0 };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  /** Models that serve the chat endpoint, following pages. */
  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey) return [];
    try {
      const ids: string[] = [];
      let pageToken: string | undefined;
      do {
        const query = `page_size=1000${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ""}&endpoint=chat`;
        const res = await this.http.send({ method: "GET", path: `/v1/models?${query}`, headers: this.headers.get, signal });
        if (res.status < 200 || res.status >= 300) throw statusError(res);
        const page = parseJson(res.text) as { models?: Array<{ name?: unknown }>; next_page_token?: string } | undefined;
        for (const m of page?.models ?? []) if (typeof m.name === "string" && m.name) ids.push(m.name);
        pageToken = page?.next_page_token || undefined;
      } while (pageToken && ids.length < MAX_MODELS);
      return ids;
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async post(body: ChatBody, signal: AbortSignal, onChunk?: (chunk: Buffer) => void): Promise<UpstreamReply> {
    const headers = onChunk ? this.headers.stream : this.headers.post;
    const res = await this.http.send({ method: "POST", path: "/v2/chat", headers, body: JSON.stringify(body), signal, onChunk });
    if (res.status >= 200 && res.status < 300) return res;
    throw statusError(res);
  }

  private body(req: ProviderRequest, stream: boolean): ChatBody {
    const { params } = req;
    const body = { model: req.upstreamModel, messages: req.messages.map((m) => ({ role: m.role, content: m.content })) } as ChatBody;
    if (params.maxTokens !== undefined) body.max_tokens = params.maxTokens;
    if (params.temperature !== undefined) body.temperature = params.temperature;
    if (params.topP !== undefined) body.p = params.topP;
    if (params.stop.length > 0) body.stop_sequences = params.stop;
    if (params.seed !== undefined) body.seed = params.seed;
    body.stream = stream;
    return body;
  }

  private checkKey(): void {
    if (!this.apiKey) throw missingKey(this.name);
  }

  private toProviderError(err: unknown, signal: AbortSignal): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof StatusError) {
      return providerError(this.name, { status: err.status, headers: err.headers, message: err.message }, signal, this.apiKey, err);
    }
    if (err instanceof TimeoutError && !signal.aborted) return new ProviderError(`provider '${this.name}' timed out`, "unavailable", { cause: err });
    return providerError(this.name, { message: (err as Error)?.message ?? String(err) }, signal, this.apiKey, err);
  }
}

/** An HTTP error status; its message is the body's `message`, as the provider took it from the SDK's error. */
class StatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: UpstreamReply["headers"],
  ) {
    super(message);
    this.name = "StatusError";
  }
}

function statusError(res: UpstreamReply): StatusError {
  const body = parseJson(res.text) as { message?: unknown } | undefined;
  const message = typeof body?.message === "string" ? body.message : `Status code: ${res.status}\nBody: ${res.text}`;
  return new StatusError(res.status, message, res.headers);
}

function finishReason(reason: string | undefined): FinishReason {
  switch (reason) {
    case "COMPLETE":
    case "STOP_SEQUENCE":
      return "stop";
    case "MAX_TOKENS":
      return "length";
    case "TOOL_CALL":
      return "tool_calls";
    default:
      return "other";
  }
}

function usage(u: WireUsage | undefined): Usage {
  return {
    inputTokens: u?.tokens?.input_tokens ?? u?.billed_units?.input_tokens ?? 0,
    outputTokens: u?.tokens?.output_tokens ?? u?.billed_units?.output_tokens ?? 0,
  };
}
