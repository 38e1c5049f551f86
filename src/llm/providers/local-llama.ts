// In-process GGUF model served by node-llama-cpp (llama.cpp on the CPU).
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  LlamaChat,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type LlamaChatResponse,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel,
} from "node-llama-cpp";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { toChatHistory } from "../local/chat-history.js";
import { LeasePool, PoolClosedError, QueueFullError } from "../local/lease-pool.js";
import { localMetrics, type LocalMetrics } from "../local/metrics.js";
import { defaultThreads, llamaRuntime } from "../local/runtime.js";
import {
  ProviderError,
  type ChatMessage,
  type EmbedRequest,
  type EmbedResult,
  type FinishReason,
  type Provider,
  type ProviderRequest,
  type ProviderResult,
  type StreamEnd,
} from "./provider.js";

export interface LlamaCppProviderOptions {
  /** The provider's name (e.g. "local", or "registry:<name>@<version>"). */
  name: string;
  /** Path of the GGUF file. */
  modelPath: string;
  /** Tokens each sequence can hold: prompt plus generated text. Default 2048. */
  contextSize?: number;
  /** Requests generated at the same time (llama.cpp batches them). Default 2. */
  sequences?: number;
  /** CPU threads for evaluation. Default: every core but one (see defaultThreads). */
  threads?: number;
  /** Requests allowed to wait while every sequence is busy; more fail with rate_limited. Default 64. */
  maxQueued?: number;
  log?: Logger;
  /** The server's metrics registry: active and queued requests, prompt and generated tokens (openloop_llm_local_*). */
  metrics?: Registry;
  /** The `provider` label of those metrics; defaults to `name` (registry models share a name, not a label). */
  metricsLabel?: string;
}

interface Slot {
  sequence: LlamaContextSequence;
  chat: LlamaChat;
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  pool: LeasePool<Slot>;
}

/**
 * A GGUF language model run in this process.
 *
 * - The model is loaded once (by `init()`, or on the first request) and kept until `close()`.
 * - Each request gets one llama.cpp context sequence; `sequences` of them run batched together,
 *   further requests wait in arrival order in a bounded queue.
 * - Prompts are rendered with the model's own chat template (its Jinja `tokenizer.chat_template`,
 *   or node-llama-cpp's best match when the file has none).
 * - Usage is counted in tokens: input is the templated prompt as the model's tokenizer splits
 *   it; output is every token the model sampled for the answer, including the end-of-generation
 *   token or the tokens of a stop sequence that were withheld from the text (as llama.cpp's
 *   server counts `tokens_predicted`).
 * - Unset temperature means greedy decoding (deterministic); `seed` makes sampling at
 *   temperature > 0 reproducible. Each request starts from an empty sequence, so an answer
 *   never depends on what the sequence served before.
 * - Aborting `req.signal` stops generation at the next token and frees the sequence.
 *
 * Streaming: text chunks go from llama.cpp's per-token callback into a channel the consumer
 * reads. Generation is not paused for a slow reader (requests share llama.cpp batches, so
 * pausing one would stall the others); the buffer is bounded by the request's token budget,
 * which is capped by the context size (2048 tokens by default: a few KB of text).
 */
export class LlamaCppProvider implements Provider {
  readonly name: string;
  readonly modelPath: string;
  readonly contextSize: number;
  readonly sequences: number;
  readonly threads: number;
  readonly maxQueued: number;
  private readonly log?: Logger;
  private readonly metrics?: LocalMetrics;
  private readonly labels: { provider: string };
  private loading: Promise<Loaded> | undefined;
  /** Set once loaded, so requests can take their place in the queue without awaiting. */
  private current: Loaded | undefined;
  private closed = false;
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** A context of its own for embeddings (llama.cpp computes them in a context made for it), made on first use. */
  private embedding: Promise<LlamaEmbeddingContext> | undefined;

  constructor(options: LlamaCppProviderOptions) {
    this.name = options.name;
    this.modelPath = options.modelPath;
    this.contextSize = positiveInt(options.contextSize ?? 2048, "contextSize");
    this.sequences = positiveInt(options.sequences ?? 2, "sequences");
    this.threads = positiveInt(options.threads ?? defaultThreads(), "threads");
    this.maxQueued = nonNegativeInt(options.maxQueued ?? 64, "maxQueued");
    this.log = options.log;
    this.metrics = options.metrics ? localMetrics(options.metrics) : undefined;
    this.labels = { provider: options.metricsLabel ?? options.name };
  }

  /** Loads the model and creates its context. Idempotent; a failed load is retried by the next call. */
  async init(): Promise<void> {
    await this.loaded();
  }

  /** Requests generating now and requests waiting for a sequence. */
  stats(): { active: number; queued: number } {
    const pool = this.current?.pool;
    return { active: pool?.busy ?? 0, queued: pool?.queued ?? 0 };
  }

  /** Tokens of the prompt these messages render to with the model's chat template. */
  async countPromptTokens(messages: readonly ChatMessage[]): Promise<number> {
    const { model, chatWrapper } = await this.loaded();
    return promptTokens(model, chatWrapper, toChatHistory(messages));
  }

  async generate(req: ProviderRequest): Promise<ProviderResult> {
    return this.withSlot(req.signal, (slot, signal) => this.run(slot, req, signal));
  }

  async stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
    const { finishReason, usage } = await this.withSlot(req.signal, (slot, signal) =>
      this.run(slot, req, signal, (text) => {
        if (text) onDelta(text);
      }),
    );
    return { finishReason, usage };
  }

  /**
   * Embeddings from the model's hidden state through node-llama-cpp's embedding context, one
   * text at a time (the context evaluates one sequence). Usage counts each text's tokens.
   */
  async embed(req: EmbedRequest): Promise<EmbedResult> {
    if (req.dimensions !== undefined) throw new ProviderError(`${this.name} cannot shorten its vectors; leave dimensions unset`, "bad_request");
    const signal = AbortSignal.any([req.signal, this.shutdown.signal]);
    const task = (async () => {
      const { model } = this.current ?? (await this.loaded());
      this.embedding ??= model.createEmbeddingContext({ contextSize: this.contextSize, threads: this.threads }).catch((err: unknown) => {
        this.embedding = undefined;
        throw new ProviderError(`${this.name}: could not create an embedding context: ${errorText(err)}`, "unavailable", { cause: err });
      });
      const context = await this.embedding;
      const vectors: number[][] = [];
      let inputTokens = 0;
      for (const [i, text] of req.inputs.entries()) {
        if (signal.aborted) throw toProviderError(signal.reason, signal, this.name);
        const tokens = context.calculateInputLength(text);
        if (tokens >= this.contextSize) {
          throw new ProviderError(`input[${i}] is ${tokens} tokens and ${this.name} embeds at most ${this.contextSize - 1}; shorten it`, "bad_request");
        }
        inputTokens += tokens;
        vectors.push([...(await context.getEmbeddingFor(text)).vector]);
      }
      return { vectors, inputTokens };
    })();
    this.inFlight.add(task);
    try {
      return await task;
    } catch (err) {
      throw toProviderError(err, signal, this.name);
    } finally {
      this.inFlight.delete(task);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shutdown.abort(new ProviderError(`model ${this.name} is shutting down`, "unavailable"));
    const loading = this.loading;
    this.current?.pool.close();
    await Promise.allSettled([...this.inFlight]);
    if (!loading) return;
    const loaded = await loading.catch(() => undefined);
    if (!loaded) return;
    loaded.pool.close();
    await (await this.embedding?.catch(() => undefined))?.dispose();
    await loaded.context.dispose();
    await loaded.model.dispose();
  }

  private loaded(): Promise<Loaded> {
    if (this.closed) return Promise.reject(new ProviderError(`model ${this.name} is closed`, "unavailable"));
    this.loading ??= this.load().then(
      (loaded) => (this.current = loaded),
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  private async load(): Promise<Loaded> {
    if (!existsSync(this.modelPath)) {
      throw new ProviderError(
        `the model file ${this.modelPath} of ${this.name} does not exist (the embedded default is fetched by scripts/fetch-model.sh)`,
        "unavailable",
      );
    }
    const started = performance.now();
    const llama = await llamaRuntime(this.log);
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: this.modelPath });
    } catch (err) {
      throw new ProviderError(`${this.name}: ${this.modelPath} is not a loadable GGUF model: ${errorText(err)}`, "unavailable", { cause: err });
    }
    try {
      let busy = () => 0;
      const context = await model.createContext({
        contextSize: this.contextSize,
        sequences: this.sequences,
        threads: this.threads,
        // node-llama-cpp waits a cycle (setImmediate) before each decode, to batch sequences that
        // queue theirs meanwhile, unless every sequence already has. A lone request has no one to
        // batch with, and that wait would put the stream's per-token work (gRPC, gateway) between
        // one token and the next decode: dispatch at once then, and batch only when two generate.
        batching: { dispatchSchedule: (dispatch) => (busy() <= 1 ? dispatch() : setImmediate(dispatch)) },
      });
      const chatWrapper = modelChatWrapper(model);
      const slots: Slot[] = [];
      for (let i = 0; i < this.sequences; i++) {
        const sequence = context.getSequence();
        slots.push({ sequence, chat: new LlamaChat({ contextSequence: sequence, chatWrapper }) });
      }
      this.log?.info(
        {
          provider: this.name,
          modelPath: this.modelPath,
          chatWrapper: chatWrapper.wrapperName,
          contextSize: context.contextSize,
          sequences: this.sequences,
          threads: this.threads,
          ms: Math.round(performance.now() - started),
        },
        "local model loaded",
      );
      const pool = new LeasePool(slots, this.maxQueued);
      busy = () => pool.busy;
      return { model, context, chatWrapper, pool };
    } catch (err) {
      await model.dispose();
      throw new ProviderError(`${this.name}: could not create a context for ${this.modelPath}: ${errorText(err)}`, "unavailable", { cause: err });
    }
  }

  /** Runs `fn` with a sequence of its own, queued in arrival order, and always gives it back. */
  private async withSlot<T>(requestSignal: AbortSignal, fn: (slot: Slot, signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.any([requestSignal, this.shutdown.signal]);
    const task = (async () => {
      // Once loaded, the place in the queue is taken synchronously: strict arrival order.
      const { pool } = this.current ?? (await this.loaded());
      let slot: Slot;
      const acquired = pool.acquire(signal);
      this.publish(pool);
      try {
        slot = await acquired;
      } catch (err) {
        throw toProviderError(err, signal, this.name);
      } finally {
        this.publish(pool);
      }
      try {
        return await fn(slot, signal);
      } finally {
        pool.release(slot);
        this.publish(pool);
      }
    })();
    this.inFlight.add(task);
    try {
      return await task;
    } finally {
      this.inFlight.delete(task);
    }
  }

  private publish(pool: LeasePool<Slot>): void {
    this.metrics?.active.set(this.labels, pool.busy);
    this.metrics?.queued.set(this.labels, pool.queued);
  }

  private async run(slot: Slot, req: ProviderRequest, signal: AbortSignal, onTextChunk?: (text: string) => void): Promise<ProviderResult> {
    if (req.messages.length === 0) throw new ProviderError("at least one message is required", "bad_request");
    const { model, chatWrapper } = this.current as Loaded;
    const history = toChatHistory(req.messages);
    const inputTokens = promptTokens(model, chatWrapper, history);
    const room = slot.sequence.contextSize - inputTokens;
    if (room <= 0) {
      throw new ProviderError(
        `the prompt is ${inputTokens} tokens and ${this.name} holds ${slot.sequence.contextSize} tokens of context; shorten the messages`,
        "bad_request",
      );
    }
    const { maxTokens, temperature, topP, seed } = req.params;
    const stop = req.params.stop.filter((s) => s !== "");
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
      throw new ProviderError(`max_tokens must be a positive integer, got ${maxTokens}`, "bad_request");
    }
    // Generating past the context would make llama.cpp shift the window (drop the prompt's start).
    const budget = Math.min(maxTokens ?? room, room);

    const labels = this.labels;
    this.metrics?.promptTokens.inc(labels, inputTokens);
    let counted = 0;
    const meterBefore = slot.sequence.tokenMeter.usedOutputTokens;
    const sampled = () => slot.sequence.tokenMeter.usedOutputTokens - meterBefore;
    try {
      await slot.sequence.clearHistory();
      const response = await slot.chat.generateResponse(history, {
        onTextChunk,
        onToken: this.metrics
          ? (tokens) => {
              counted += tokens.length;
              this.metrics?.generatedTokens.inc(labels, tokens.length);
            }
          : undefined,
        signal,
        stopOnAbortSignal: true,
        maxTokens: budget,
        temperature,
        topP,
        seed: samplerSeed(seed),
        customStopTriggers: stop.length > 0 ? stop : undefined,
      });
      if (signal.aborted) throw toProviderError(signal.reason, signal, this.name);
      return {
        text: response.response,
        finishReason: finishReasonOf(response),
        usage: { inputTokens, outputTokens: sampled() },
      };
    } catch (err) {
      throw toProviderError(err, signal, this.name);
    } finally {
      // Tokens sampled but never shown as text (end of generation, a withheld stop sequence).
      const rest = sampled() - counted;
      if (this.metrics && rest > 0) this.metrics.generatedTokens.inc(labels, rest);
    }
  }
}

/** The model's own chat template when the file carries one, else node-llama-cpp's best match. */
function modelChatWrapper(model: LlamaModel): ChatWrapper {
  return resolveChatWrapper(model, { type: "jinjaTemplate", warningLogs: false }) ?? resolveChatWrapper(model);
}

/**
 * llama.cpp's sampler takes a 32-bit seed. Without one node-llama-cpp would use the current
 * second, so two unseeded requests in the same second would sample the same text: draw one.
 */
function samplerSeed(seed: number | undefined): number {
  if (seed === undefined) return randomInt(2 ** 32);
  const wrapped = Math.trunc(seed) % 2 ** 32;
  return wrapped < 0 ? wrapped + 2 ** 32 : wrapped;
}

function promptTokens(model: LlamaModel, chatWrapper: ChatWrapper, history: ChatHistoryItem[]): number {
  return chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer).length;
}

function finishReasonOf(response: LlamaChatResponse): FinishReason {
  switch (response.metadata.stopReason) {
    case "maxTokens":
      return "length";
    case "eogToken":
    case "stopGenerationTrigger":
    case "customStopTrigger":
      return "stop";
    case "functionCalls":
      return "tool_calls";
    default:
      return "other";
  }
}

function toProviderError(err: unknown, signal: AbortSignal, name: string): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof ProviderError) return reason;
    const timedOut =
      (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) ||
      (reason instanceof Error && reason.name === "TimeoutError");
    return timedOut
      ? new ProviderError(`${name}: the deadline passed while generating`, "timeout", { cause: reason })
      : new ProviderError(`${name}: the request was cancelled`, "cancelled", { cause: reason });
  }
  if (err instanceof QueueFullError) {
    return new ProviderError(`${name}: ${err.message}; retry later`, "rate_limited", { cause: err });
  }
  if (err instanceof PoolClosedError) return new ProviderError(`model ${name} is closed`, "unavailable", { cause: err });
  return new ProviderError(`${name}: generation failed: ${errorText(err)}`, "unavailable", { cause: err });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer, got ${value}`);
  return value;
}
