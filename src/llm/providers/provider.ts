// The one interface every LLM backend implements (remote APIs and in-process models alike).
// Domain types are plain TypeScript; src/llm/service.ts maps them to the proto at the edge.

export type ChatRole = "system" | "user" | "assistant";

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface GenerateParams {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop: string[];
  seed?: number;
}

export interface ProviderRequest {
  /** The model id the upstream knows (after catalog resolution). */
  upstreamModel: string;
  messages: ChatMessage[];
  params: GenerateParams;
  /** Aborted on client cancellation or deadline: the provider must stop upstream work at once. */
  signal: AbortSignal;
}

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "other";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** How a streamed answer ended. */
export interface StreamEnd {
  finishReason: FinishReason;
  usage: Usage;
}

export interface ProviderResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
}

export interface EmbedRequest {
  upstreamModel: string;
  /** Texts to embed, none empty. */
  inputs: string[];
  /** Vector length, for models that can shorten theirs. */
  dimensions?: number;
  signal: AbortSignal;
}

export interface EmbedResult {
  /** One vector per input, in order. */
  vectors: number[][];
  inputTokens: number;
}

export interface Provider {
  /** The provider's name in the config file (e.g. "openai", "local"). */
  readonly name: string;
  /**
   * Streams: calls `onDelta` with each text delta as it arrives upstream (the deltas of one
   * network read one after another, synchronously), then resolves with how the answer ended.
   * A callback rather than an async iterator: a token then costs a call, not a promise per layer.
   */
  stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd>;
  /** One-shot generation. */
  generate(req: ProviderRequest): Promise<ProviderResult>;
  /** Embedding vectors, for providers that have an embeddings API. */
  embed?(req: EmbedRequest): Promise<EmbedResult>;
  /** Upstream model ids, for providers that can list them. */
  listModels?(signal: AbortSignal): Promise<string[]>;
  close?(): Promise<void>;
}

/** Why an upstream call failed, in terms the retry policy and the gRPC mapping understand. */
export type ProviderErrorKind =
  | "rate_limited" // 429: retry after backoff, then RESOURCE_EXHAUSTED
  | "unavailable" // 5xx, connection refused/reset: retry, then UNAVAILABLE
  | "auth" // upstream rejected our credentials: FAILED_PRECONDITION
  | "bad_request" // upstream rejected the request: INVALID_ARGUMENT
  | "not_found" // upstream does not know the model: NOT_FOUND
  | "timeout" // deadline: DEADLINE_EXCEEDED
  | "cancelled"; // caller went away: CANCELED

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ProviderError";
  }

  get retryable(): boolean {
    return this.kind === "rate_limited" || this.kind === "unavailable";
  }
}
