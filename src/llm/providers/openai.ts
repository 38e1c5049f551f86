// OpenAI chat completions. Also serves Hugging Face Inference Providers / TGI and local
// OpenAI-compatible servers (Ollama, vLLM, llama.cpp server), which speak the same wire format
// at another base URL.
//
// The requests are those the official `openai` SDK sends (same headers, same JSON, byte for
// byte: test/llm/wire.test.ts sends both to one fake and compares), but built here and sent on
// an undici Pool: the SDK with its fetch costs about 500 µs CPU a call and parses a 512-token
// stream in about 4 ms, this path about 90 µs and 1 ms (see the commit that introduced it).
import { VERSION } from "openai/version";
import { missingKey, providerError, truncatedStream } from "./errors.js";
import { parseJson, readEvents, TimeoutError, UpstreamHttp, type EventVerdict, type SseEvent, type UpstreamReply } from "./http.js";
import type { EmbedRequest, EmbedResult, FinishReason, Provider, ProviderRequest, ProviderResult, StreamEnd, Usage } from "./provider.js";
import { ProviderError } from "./provider.js";
import { apiMessage, platformHeaders, UpstreamError } from "./stainless.js";

export type OpenAIFlavour = "openai" | "huggingface" | "openai-compatible";

export const DEFAULT_BASE_URLS: Record<OpenAIFlavour, string | undefined> = {
  openai: "https://api.openai.com/v1",
  huggingface: "https://router.huggingface.co/v1",
  "openai-compatible": undefined,
};

export interface OpenAIProviderOptions {
  flavour: OpenAIFlavour;
  apiKey?: string;
  baseUrl?: string;
  timeoutMs: number;
}

/** The chat completions request body, in the SDK's key order (it sends what it is given). */
interface ChatBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  max_completion_tokens?: number;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  seed?: number;
  stream: boolean;
  stream_options?: { include_usage: boolean };
}

interface ChatChoice {
  message?: { content?: string | null };
  delta?: { content?: string | null };
  finish_reason?: string | null;
}

interface ChatPayload {
  choices?: ChatChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: unknown;
}

export class OpenAIProvider implements Provider {
  private readonly http: UpstreamHttp;
  private readonly apiKey: string | undefined;
  private readonly flavour: OpenAIFlavour;
  private readonly getHeaders: Record<string, string>;
  private readonly postHeaders: Record<string, string>;

  constructor(
    readonly name: string,
    options: OpenAIProviderOptions,
  ) {
    const baseURL = options.baseUrl ?? DEFAULT_BASE_URLS[options.flavour];
    if (!baseURL) throw new Error(`provider '${name}' needs a baseUrl`);
    this.apiKey = options.apiKey;
    this.flavour = options.flavour;
    this.http = new UpstreamHttp(baseURL, options.timeoutMs);
    // Local servers need no key; the SDK insists on one, and they ignore the header.
    this.getHeaders = sdkHeaders(options.apiKey ?? "unused");
    this.postHeaders = { ...this.getHeaders, "content-type": "application/json" };
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = await this.post(this.body(req, false), req.signal);
      const payload = parseJson(res.text) as ChatPayload | undefined;
      const choice = payload?.choices?.[0];
      if (!choice) throw new ProviderError(`provider '${this.name}' answered with no choices`, "unavailable");
      return {
        text: choice.message?.content ?? "",
        finishReason: finishReason(choice.finish_reason),
        usage: usage(payload.usage),
      };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
    this.checkKey();
    let finish: FinishReason | undefined;
    let tokens: Usage | undefined;
    const onEvent = (e: SseEvent): EventVerdict => {
      if (e.data === "[DONE]") return "done";
      const chunk = parseJson(e.data) as ChatPayload | undefined;
      if (chunk === undefined) return new ProviderError(`provider '${this.name}' sent a stream event that is not JSON`, "unavailable");
      // The SDK turns an `error` event or payload into an error without a status.
      if (e.event === "error" || chunk.error) {
        return new UpstreamError(undefined, apiMessage(undefined, e.event === "error" ? (chunk.error ?? chunk) : chunk.error, undefined));
      }
      const choice = chunk.choices?.[0];
      const text = choice?.delta?.content;
      if (text) onDelta(text);
      if (choice?.finish_reason) finish = finishReason(choice.finish_reason);
      if (chunk.usage) tokens = usage(chunk.usage);
      return undefined;
    };
    try {
      await readEvents((onChunk) => this.post(this.body(req, true), req.signal, onChunk), onEvent);
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (finish === undefined) throw truncatedStream(this.name);
    return { finishReason: finish, usage: tokens ?? { inputTokens: 0, outputTokens: 0 } };
  }

  /**
   * POST /embeddings as the SDK sends it by default: vectors come back as base64 float32,
   * a quarter of the JSON to parse. Servers that ignore encoding_format send arrays; both are read.
   */
  async embed(req: EmbedRequest): Promise<EmbedResult> {
    this.checkKey();
    const body: EmbeddingsBody = { model: req.upstreamModel, input: req.inputs };
    if (req.dimensions !== undefined) body.dimensions = req.dimensions;
    body.encoding_format = "base64";
    try {
      const res = await this.http.send({ method: "POST", path: "/embeddings", headers: this.postHeaders, body: JSON.stringify(body), signal: req.signal });
      if (res.status < 200 || res.status >= 300) throw statusError(res);
      const payload = parseJson(res.text) as EmbeddingsPayload | undefined;
      const data = payload?.data;
      if (!Array.isArray(data) || data.length !== req.inputs.length) {
        throw new ProviderError(`provider '${this.name}' answered ${Array.isArray(data) ? data.length : "no"} embeddings for ${req.inputs.length} inputs`, "unavailable");
      }
      const vectors = new Array<number[]>(data.length);
      data.forEach((d, i) => {
        const at = typeof d.index === "number" ? d.index : i;
        vectors[at] = typeof d.embedding === "string" ? decodeFloat32(d.embedding) : (d.embedding ?? []);
      });
      return { vectors, inputTokens: payload?.usage?.prompt_tokens ?? 0 };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey && this.flavour !== "openai-compatible") return [];
    try {
      const res = await this.http.send({ method: "GET", path: "/models", headers: this.getHeaders, signal });
      if (res.status < 200 || res.status >= 300) throw statusError(res);
      const page = parseJson(res.text) as { data?: Array<{ id?: unknown }> } | undefined;
      return (page?.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async post(body: ChatBody, signal: AbortSignal, onChunk?: (chunk: Buffer) => void): Promise<UpstreamReply> {
    const res = await this.http.send({ method: "POST", path: "/chat/completions", headers: this.postHeaders, body: JSON.stringify(body), signal, onChunk });
    if (res.status >= 200 && res.status < 300) return res;
    throw statusError(res);
  }

  private body(req: ProviderRequest, stream: boolean): ChatBody {
    const { params } = req;
    const body = {
      model: req.upstreamModel,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    } as ChatBody;
    if (params.maxTokens !== undefined) {
      // OpenAI deprecated max_tokens; the compatible servers still only know it.
      if (this.flavour === "openai") body.max_completion_tokens = params.maxTokens;
      else body.max_tokens = params.maxTokens;
    }
    if (params.temperature !== undefined) body.temperature = params.temperature;
    if (params.topP !== undefined) body.top_p = params.topP;
    if (params.stop.length > 0) body.stop = params.stop;
    if (params.seed !== undefined) body.seed = params.seed;
    body.stream = stream;
    if (stream) body.stream_options = { include_usage: true };
    return body;
  }

  private checkKey(): void {
    if (!this.apiKey && this.flavour !== "openai-compatible") throw missingKey(this.name);
  }

  private toProviderError(err: unknown, signal: AbortSignal): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof UpstreamError) {
      return providerError(this.name, { status: err.status, headers: err.headers, message: err.message }, signal, this.apiKey, err);
    }
    // The SDK's words for a timeout and a failed connection, with the cause's for the log.
    const message = err instanceof TimeoutError ? err.message : `Connection error. (${(err as Error)?.message ?? String(err)})`;
    return providerError(this.name, { message }, signal, this.apiKey, err);
  }
}

interface EmbeddingsBody {
  model: string;
  input: string[];
  dimensions?: number;
  encoding_format?: "base64" | "float";
}

interface EmbeddingsPayload {
  data?: Array<{ index?: number; embedding?: string | number[] }>;
  usage?: { prompt_tokens?: number };
}

/** Little-endian float32 components, as OpenAI encodes them in base64. */
function decodeFloat32(base64: string): number[] {
  const bytes = Buffer.from(base64, "base64");
  const out = new Array<number>(bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

function statusError(res: UpstreamReply): UpstreamError {
  const json = parseJson(res.text) as { error?: unknown } | undefined;
  return new UpstreamError(res.status, apiMessage(res.status, json?.error, json === undefined ? res.text : undefined), res.headers);
}

/** The headers the SDK sends (its own, in its order; Node's fetch adds accept-language, sec-fetch-mode and accept-encoding). */
function sdkHeaders(apiKey: string): Record<string, string> {
  const headers: Record<string, string> = {
    accept: "application/json",
    "user-agent": `OpenAI/JS ${VERSION}`,
    "x-stainless-retry-count": "0",
  };
  for (const [name, value] of Object.entries(platformHeaders(VERSION))) headers[name.toLowerCase()] = value;
  headers.authorization = `Bearer ${apiKey}`;
  return headers;
}

function finishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "stop":
    case "length":
    case "content_filter":
    case "tool_calls":
      return reason;
    case "function_call":
      return "tool_calls";
    case "eos_token":
    case "stop_sequence":
      return "stop";
    default:
      return "other";
  }
}

function usage(u: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): Usage {
  return { inputTokens: u?.prompt_tokens ?? 0, outputTokens: u?.completion_tokens ?? 0 };
}
