// Anthropic Messages API. The requests are those the official @anthropic-ai/sdk sends (same
// headers, same JSON; test/llm/wire.test.ts compares both on one fake), built here and sent on
// an undici Pool, for the reasons openai.ts gives.
import { VERSION } from "@anthropic-ai/sdk/version";
import { missingKey, providerError, truncatedStream } from "./errors.js";
import { parseJson, readEvents, TimeoutError, UpstreamHttp, type EventVerdict, type SseEvent, type UpstreamReply } from "./http.js";
import type { FinishReason, Provider, ProviderRequest, ProviderResult, StreamEnd } from "./provider.js";
import { ProviderError } from "./provider.js";
import { apiMessage, platformHeaders, UpstreamError } from "./stainless.js";

export const ANTHROPIC_BASE_URL = "https://api.anthropic.com";
/** Anthropic requires max_tokens; this is used when the caller sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 1024;
/** The API version the SDK release above pins (its `anthropic-version` header). */
const API_VERSION = "2026-10-21";
/** Pages of the model listing followed at most. */
const MAX_MODEL_PAGES = 20;

export interface AnthropicProviderOptions {
  apiKey?: string;
  baseUrl?: string;
  timeoutMs: number;
}

/** The Messages request body, in the order the SDK was given it (it sends what it is given). */
interface MessagesBody {
  model: string;
  max_tokens: number;
  messages: Array<{ role: "user" | "assistant"; content: string }>;
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  stream: boolean;
}

interface MessagesPayload {
  type?: string;
  content?: Array<{ type?: string; text?: string }>;
  stop_reason?: string | null;
  usage?: { input_tokens?: number | null; output_tokens?: number | null };
  message?: { usage?: { input_tokens?: number; output_tokens?: number } };
  delta?: { type?: string; text?: string; stop_reason?: string | null };
}

export class AnthropicProvider implements Provider {
  private readonly http: UpstreamHttp;
  private readonly apiKey: string | undefined;
  private readonly getHeaders: Record<string, string>;
  private readonly postHeaders: Record<string, string>;

  constructor(
    readonly name: string,
    options: AnthropicProviderOptions,
  ) {
    this.apiKey = options.apiKey;
    this.http = new UpstreamHttp((options.baseUrl ?? ANTHROPIC_BASE_URL).replace(/\/+$/, "") + "/v1", options.timeoutMs);
    this.getHeaders = {
      Accept: "application/json",
      "User-Agent": `Anthropic/JS ${VERSION}`,
      "X-Stainless-Retry-Count": "0",
      "X-Stainless-Timeout": String(Math.trunc(options.timeoutMs / 1000)),
      ...platformHeaders(VERSION),
      "anthropic-version": API_VERSION,
      // Without a key no call is made (checkKey), so the placeholder never leaves the process.
      authorization: `Bearer ${options.apiKey ?? "unset"}`,
    };
    this.postHeaders = { ...this.getHeaders, "content-type": "application/json" };
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = parseJson((await this.post(this.body(req, false), req.signal)).text) as MessagesPayload | undefined;
      if (!res?.content) throw new ProviderError(`provider '${this.name}' answered without content`, "unavailable");
      let text = "";
      for (const block of res.content) if (block.type === "text") text += block.text ?? "";
      return {
        text,
        finishReason: finishReason(res.stop_reason),
        usage: { inputTokens: res.usage?.input_tokens ?? 0, outputTokens: res.usage?.output_tokens ?? 0 },
      };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
    this.checkKey();
    let inputTokens = 0;
    let outputTokens = 0;
    let finish: FinishReason | undefined;
    let stopped = false;
    // As the SDK reads the stream: pings and unnamed events are skipped, an `error` event fails it.
    const onEvent = (e: SseEvent): EventVerdict => {
      if (e.event === null || e.event === "ping") return undefined;
      if (e.event === "error") return new UpstreamError(undefined, apiMessage(undefined, parseJson(e.data) ?? e.data, undefined));
      if (!e.data) return undefined;
      const event = parseJson(e.data) as MessagesPayload | undefined;
      if (event === undefined) return new ProviderError(`provider '${this.name}' sent a stream event that is not JSON`, "unavailable");
      switch (event.type) {
        case "message_start":
          inputTokens = event.message?.usage?.input_tokens ?? 0;
          outputTokens = event.message?.usage?.output_tokens ?? 0;
          break;
        case "content_block_delta":
          if (event.delta?.type === "text_delta" && event.delta.text) onDelta(event.delta.text);
          break;
        case "message_delta":
          // message_delta usage is cumulative for the message.
          if (event.usage?.output_tokens != null) outputTokens = event.usage.output_tokens;
          if (event.usage?.input_tokens != null) inputTokens = event.usage.input_tokens;
          finish = finishReason(event.delta?.stop_reason);
          break;
        case "message_stop":
          stopped = true;
          break;
      }
      return undefined;
    };
    try {
      await readEvents((onChunk) => this.post(this.body(req, true), req.signal, onChunk), onEvent);
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (!stopped) throw truncatedStream(this.name);
    return { finishReason: finish ?? "other", usage: { inputTokens, outputTokens } };
  }

  /** Every page of the listing, as the SDK's auto-pagination follows them (after_id). */
  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey) return [];
    try {
      const ids: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < MAX_MODEL_PAGES; page++) {
        const path = after === undefined ? "/models" : `/models?after_id=${encodeURIComponent(after)}`;
        const res = await this.http.send({ method: "GET", path, headers: this.getHeaders, signal });
        if (res.status < 200 || res.status >= 300) throw statusError(res);
        const body = parseJson(res.text) as { data?: Array<{ id?: unknown }>; has_more?: boolean; last_id?: string | null } | undefined;
        for (const m of body?.data ?? []) if (typeof m.id === "string") ids.push(m.id);
        if (!body?.has_more || !body.last_id) break;
        after = body.last_id;
      }
      return ids;
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async post(body: MessagesBody, signal: AbortSignal, onChunk?: (chunk: Buffer) => void): Promise<UpstreamReply> {
    const res = await this.http.send({ method: "POST", path: "/messages", headers: this.postHeaders, body: JSON.stringify(body), signal, onChunk });
    if (res.status >= 200 && res.status < 300) return res;
    throw statusError(res);
  }

  private body(req: ProviderRequest, stream: boolean): MessagesBody {
    const { params } = req;
    const system = req.messages.filter((m) => m.role === "system").map((m) => m.content);
    const body = {
      model: req.upstreamModel,
      max_tokens: params.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
      messages: req.messages.filter((m) => m.role !== "system").map((m) => ({ role: m.role as "user" | "assistant", content: m.content })),
    } as MessagesBody;
    if (system.length > 0) body.system = system.join("\n\n");
    // Deprecated upstream (and gone from the SDK's types) but still sent when the caller sets
    // them, so the upstream decides and a rejection reaches the caller.
    if (params.temperature !== undefined) body.temperature = params.temperature;
    if (params.topP !== undefined) body.top_p = params.topP;
    if (params.stop.length > 0) body.stop_sequences = params.stop;
    // The Messages API has no seed; it is not sent.
    body.stream = stream;
    return body;
  }

  private checkKey(): void {
    if (!this.apiKey) throw missingKey(this.name);
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

/** The SDK passes Anthropic's whole error body to APIError (not its `error` member as OpenAI's does). */
function statusError(res: UpstreamReply): UpstreamError {
  const json = parseJson(res.text);
  return new UpstreamError(res.status, apiMessage(res.status, json, json === undefined ? res.text : undefined), res.headers);
}

function finishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "refusal":
      return "content_filter";
    case "tool_use":
      return "tool_calls";
    default:
      return "other";
  }
}
