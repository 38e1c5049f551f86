// Cohere v2 Chat through the official SDK (cohere-ai).
import { CohereClientV2, CohereError, CohereTimeoutError } from "cohere-ai";
import { missingKey, providerError, truncatedStream } from "./errors.js";
import type { FinishReason, Provider, ProviderRequest, ProviderResult, StreamEnd, Usage } from "./provider.js";
import { ProviderError } from "./provider.js";

export const COHERE_BASE_URL = "https://api.cohere.com";

export interface CohereProviderOptions {
  apiKey?: string;
  baseUrl?: string;
  timeoutMs: number;
}

interface CohereUsage {
  tokens?: { inputTokens?: number; outputTokens?: number };
  billedUnits?: { inputTokens?: number; outputTokens?: number };
}

export class CohereProvider implements Provider {
  private readonly client: CohereClientV2;
  private readonly apiKey: string | undefined;
  private readonly timeoutInSeconds: number;

  constructor(
    readonly name: string,
    options: CohereProviderOptions,
  ) {
    this.apiKey = options.apiKey;
    this.timeoutInSeconds = options.timeoutMs / 1000;
    this.client = new CohereClientV2({
      token: options.apiKey ?? "",
      baseUrl: options.baseUrl ?? COHERE_BASE_URL,
      clientName: "openloop",
      maxRetries: 0,
      timeoutInSeconds: this.timeoutInSeconds,
    });
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    this.checkKey();
    try {
      const res = await this.client.chat(this.body(req), this.requestOptions(req.signal));
      let text = "";
      for (const item of res.message.content ?? []) if (item.type === "text") text += item.text;
      return { text, finishReason: finishReason(res.finishReason), usage: usage(res.usage) };
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
  }

  async stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
    this.checkKey();
    let done: { finishReason: FinishReason; usage: Usage } | undefined;
    try {
      const stream = await this.client.chatStream(this.body(req), this.requestOptions(req.signal));
      for await (const event of stream) {
        if (event.type === "content-delta") {
          const text = event.delta?.message?.content?.text;
          if (text) onDelta(text);
        } else if (event.type === "message-end") {
          if (event.delta?.error) throw new ProviderError(`provider '${this.name}' failed mid-stream: ${event.delta.error}`, "unavailable");
          done = { finishReason: finishReason(event.delta?.finishReason), usage: usage(event.delta?.usage) };
        }
      }
    } catch (err) {
      throw this.toProviderError(err, req.signal);
    }
    if (!done) throw truncatedStream(this.name);
    return done;
  }

  /** Models that serve the chat endpoint, following pages. */
  async listModels(signal: AbortSignal): Promise<string[]> {
    if (!this.apiKey) return [];
    try {
      const ids: string[] = [];
      let pageToken: string | undefined;
      do {
        const page = await this.client.models.list({ endpoint: "chat", pageSize: 1000, ...(pageToken && { pageToken }) }, this.requestOptions(signal));
        for (const m of page.models) if (m.name) ids.push(m.name);
        pageToken = page.nextPageToken || undefined;
      } while (pageToken && ids.length < 10_000);
      return ids;
    } catch (err) {
      throw this.toProviderError(err, signal);
    }
  }

  private body(req: ProviderRequest) {
    const { params } = req;
    return {
      model: req.upstreamModel,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      ...(params.maxTokens !== undefined && { maxTokens: params.maxTokens }),
      ...(params.temperature !== undefined && { temperature: params.temperature }),
      ...(params.topP !== undefined && { p: params.topP }),
      ...(params.stop.length > 0 && { stopSequences: params.stop }),
      ...(params.seed !== undefined && { seed: params.seed }),
    };
  }

  private requestOptions(signal: AbortSignal) {
    return { abortSignal: signal, maxRetries: 0, timeoutInSeconds: this.timeoutInSeconds };
  }

  private checkKey(): void {
    if (!this.apiKey) throw missingKey(this.name);
  }

  private toProviderError(err: unknown, signal: AbortSignal): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof CohereTimeoutError) {
      return new ProviderError(`provider '${this.name}' timed out`, "unavailable", { cause: err });
    }
    if (err instanceof CohereError) {
      const headers = err.rawResponse?.headers;
      // The SDK reports network failures and aborts with status 0 or none.
      const status = err.statusCode && err.statusCode >= 100 ? err.statusCode : undefined;
      return providerError(this.name, { status, headers, message: errorText(err) }, signal, this.apiKey, err);
    }
    return providerError(this.name, { message: (err as Error)?.message ?? String(err) }, signal, this.apiKey, err);
  }
}

function errorText(err: CohereError): string {
  const body = err.body as { message?: unknown } | undefined;
  if (body && typeof body === "object" && typeof body.message === "string") return body.message;
  return err.message;
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

function usage(u: CohereUsage | undefined): Usage {
  return {
    inputTokens: u?.tokens?.inputTokens ?? u?.billedUnits?.inputTokens ?? 0,
    outputTokens: u?.tokens?.outputTokens ?? u?.billedUnits?.outputTokens ?? 0,
  };
}
