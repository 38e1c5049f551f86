// Anthropic Messages API through the official SDK.
import Anthropic from "@anthropic-ai/sdk";
import type { MessageCreateParamsBase } from "@anthropic-ai/sdk/resources/messages/messages";
import { missingKey, providerError, truncatedStream } from "./errors.js";
import type { FinishReason, Provider, ProviderRequest, ProviderResult, StreamEnd } from "./provider.js";
import { ProviderError } from "./provider.js";

export const ANTHROPIC_BASE_URL = "https://api.anthropic.com";
/** Anthropic requires max_tokens; this is used when the caller sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 1024;

export interface AnthropicProviderOptions {
  apiKey?: string;
  baseUrl?: string;
  timeoutMs: number;
}

export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;
  private readonly apiKey: string | undefined;

  constructor(
    readonly name: string,
    options: AnthropicProviderOptions,
  ) {
    this.apiKey = options.apiKey;
    this.client = new Anthropic({
      // Never null: the SDK would then look for ambient credentials (environment, profile files).
      // Without a key no call is made (checkKey), so the placeholder never leaves the process.
      apiKey: options.apiKey ?? "unset",
      authToken: null,
      baseURL: options.baseUrl ?? ANTHROPIC_BASE_URL,
      maxRetries: 0,
      timeout: options.timeoutMs,
    });
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = await this.client.messages.create({ ...this.body(req), stream: false }, { signal: req.signal });
      let text = "";
      for (const block of res.content) if (block.type === "text") text += block.text;
      return {
        text,
        finishReason: finishReason(res.stop_reason),
        usage: { inputTokens: res.usage.input_tokens, outputTokens: res.usage.output_tokens },
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
    try {
      const stream = await this.client.messages.create({ ...this.body(req), stream: true }, { signal: req.signal });
      for await (const event of stream) {
        switch (event.type) {
          case "message_start":
            inputTokens = event.message.usage.input_tokens;
            outputTokens = event.message.usage.output_tokens;
            break;
          case "content_block_delta":
            if (event.delta.type === "text_delta" && event.delta.text) onDelta(event.delta.text);
            break;
          case "message_delta":
            // message_delta usage is cumulative for the message.
            outputTokens = event.usage.output_tokens;
            if (event.usage.input_tokens != null) inputTokens = event.usage.input_tokens;
            finish = finishReason(event.delta.stop_reason);
            break;
          case "message_stop":
            stopped = true;
            break;
        }
      }
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (!stopped) throw truncatedStream(this.name);
    return { finishReason: finish ?? "other", usage: { inputTokens, outputTokens } };
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey) return [];
    try {
      const ids: string[] = [];
      for await (const model of this.client.models.list({}, { signal })) ids.push(model.id);
      return ids;
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  private body(req: ProviderRequest): Omit<MessageCreateParamsBase, "stream"> {
    const { params } = req;
    const system = req.messages.filter((m) => m.role === "system").map((m) => m.content);
    const body: Omit<MessageCreateParamsBase, "stream"> = {
      model: req.upstreamModel,
      max_tokens: params.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
      messages: req.messages
        .filter((m) => m.role !== "system")
        .map((m) => ({ role: m.role as "user" | "assistant", content: m.content })),
    };
    if (system.length > 0) body.system = system.join("\n\n");
    // The SDK's types dropped temperature and top_p (deprecated upstream); they are still sent
    // when the caller sets them, so the upstream decides and a rejection reaches the caller.
    const sampling = body as { temperature?: number; top_p?: number };
    if (params.temperature !== undefined) sampling.temperature = params.temperature;
    if (params.topP !== undefined) sampling.top_p = params.topP;
    if (params.stop.length > 0) body.stop_sequences = params.stop;
    // The Messages API has no seed; it is not sent.
    return body;
  }

  private checkKey(): void {
    if (!this.apiKey) throw missingKey(this.name);
  }

  private toProviderError(err: unknown, signal: AbortSignal): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof Anthropic.APIError) {
      return providerError(this.name, { status: err.status, headers: err.headers, message: err.message }, signal, this.apiKey, err);
    }
    return providerError(this.name, { message: (err as Error)?.message ?? String(err) }, signal, this.apiKey, err);
  }
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
