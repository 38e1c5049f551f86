// OpenAI chat completions through the official SDK. Also serves Hugging Face Inference
// Providers / TGI and local OpenAI-compatible servers (Ollama, vLLM, llama.cpp server),
// which speak the same wire format at another base URL.
import OpenAI from "openai";
import type { ChatCompletionCreateParamsBase } from "openai/resources/chat/completions";
import { missingKey, providerError, truncatedStream } from "./errors.js";
import type { FinishReason, Provider, ProviderEvent, ProviderRequest, ProviderResult, Usage } from "./provider.js";
import { ProviderError } from "./provider.js";

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

export class OpenAIProvider implements Provider {
  private readonly client: OpenAI;
  private readonly apiKey: string | undefined;
  private readonly flavour: OpenAIFlavour;

  constructor(
    readonly name: string,
    options: OpenAIProviderOptions,
  ) {
    const baseURL = options.baseUrl ?? DEFAULT_BASE_URLS[options.flavour];
    if (!baseURL) throw new Error(`provider '${name}' needs a baseUrl`);
    this.apiKey = options.apiKey;
    this.flavour = options.flavour;
    this.client = new OpenAI({
      // Local servers need no key; the SDK insists on one, and they ignore the header.
      apiKey: options.apiKey ?? "unused",
      baseURL,
      organization: null,
      project: null,
      webhookSecret: null,
      // The gateway retries with the call's deadline in mind; SDK retries would hide failures from it.
      maxRetries: 0,
      timeout: options.timeoutMs,
    });
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = await this.client.chat.completions.create({ ...this.body(req), stream: false }, { signal: req.signal });
      const choice = res.choices[0];
      if (!choice) throw new ProviderError(`provider '${this.name}' answered with no choices`, "unavailable");
      return {
        text: choice.message.content ?? "",
        finishReason: finishReason(choice.finish_reason),
        usage: usage(res.usage),
      };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async *stream(req: ProviderRequest): AsyncIterable<ProviderEvent> {
    this.checkKey();
    let finish: FinishReason | undefined;
    let tokens: Usage | undefined;
    try {
      const stream = await this.client.chat.completions.create(
        { ...this.body(req), stream: true, stream_options: { include_usage: true } },
        { signal: req.signal },
      );
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const text = choice?.delta?.content;
        if (text) yield { type: "delta", text };
        if (choice?.finish_reason) finish = finishReason(choice.finish_reason);
        if (chunk.usage) tokens = usage(chunk.usage);
      }
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (finish === undefined) throw truncatedStream(this.name);
    yield { type: "done", finishReason: finish, usage: tokens ?? { inputTokens: 0, outputTokens: 0 } };
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey && this.flavour !== "openai-compatible") return [];
    try {
      const ids: string[] = [];
      for await (const model of this.client.models.list({ signal })) ids.push(model.id);
      return ids;
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  private body(req: ProviderRequest): Omit<ChatCompletionCreateParamsBase, "stream"> {
    const { params } = req;
    const body: Omit<ChatCompletionCreateParamsBase, "stream"> = {
      model: req.upstreamModel,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    };
    if (params.maxTokens !== undefined) {
      // OpenAI deprecated max_tokens; the compatible servers still only know it.
      if (this.flavour === "openai") body.max_completion_tokens = params.maxTokens;
      else body.max_tokens = params.maxTokens;
    }
    if (params.temperature !== undefined) body.temperature = params.temperature;
    if (params.topP !== undefined) body.top_p = params.topP;
    if (params.stop.length > 0) body.stop = params.stop;
    if (params.seed !== undefined) body.seed = params.seed;
    return body;
  }

  private checkKey(): void {
    if (!this.apiKey && this.flavour !== "openai-compatible") throw missingKey(this.name);
  }

  private toProviderError(err: unknown, signal: AbortSignal): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof OpenAI.APIError) {
      return providerError(this.name, { status: err.status, headers: err.headers, message: err.message }, signal, this.apiKey, err);
    }
    return providerError(this.name, { message: (err as Error)?.message ?? String(err) }, signal, this.apiKey, err);
  }
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
