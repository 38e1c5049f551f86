// The LLM gateway: catalog resolution, validation, cache, single flight, retries,
// fallbacks, per-provider concurrency and rate limits and metrics, over any Provider.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { CacheConfig, RetryConfig } from "./config.js";
import type { Catalog, Route } from "./catalog.js";
import type { CachedAnswer, ResponseCache } from "./cache/cache.js";
import { Flight, type UpstreamAnswer, type UpstreamCall } from "./flight.js";
import { localLimiter, QueueFullError, type CallLimiter, type LimiterFactory } from "./limiter.js";
import { ProviderRateLimitedError, type ProviderRateGate, type TokenCost } from "./provider-rates.js";
import { estimateTokens } from "./token-estimate.js";
import type { LlmMetrics, ModelMetricsSnapshot, Series } from "./metrics.js";
import { cacheKey, validateEmbedRequest, validateRequest, withDefaultMaxTokens, type TokenLimits } from "./params.js";
import { backoffMs, sleep } from "./retry.js";
import { ProviderError, type ChatMessage, type FinishReason, type GenerateParams, type Provider, type Usage } from "./providers/provider.js";
import { codeName } from "../platform/observe.js";
import { resourceExhausted } from "../platform/rate-limit.js";
import { listSome, quote } from "../platform/errors.js";
import { traceCacheLookup, traceProviderCall } from "../platform/tracing/index.js";

export type CacheMode = "use" | "bypass" | "refresh";

export interface GenerateCall {
  model: string;
  messages: ChatMessage[];
  params: GenerateParams;
  cacheMode: CacheMode;
  /** Aborts on cancellation and at the deadline. */
  signal: AbortSignal;
  /** Epoch milliseconds; bounds retries and backoff. */
  deadline?: number;
}

export interface EmbedCall {
  model: string;
  inputs: string[];
  dimensions?: number;
  signal: AbortSignal;
  deadline?: number;
}

export interface Embeddings {
  /** One vector per input, in order. */
  vectors: number[][];
  usage: Usage;
  model: string;
  provider: string;
  upstreamModel: string;
}

export interface AnswerMeta {
  finishReason: FinishReason;
  usage: Usage;
  cached: boolean;
  model: string;
  provider: string;
  upstreamModel: string;
}

export interface Answer extends AnswerMeta {
  text: string;
}

export type StreamItem = { type: "delta"; text: string } | ({ type: "done" } & AnswerMeta);

export type ModelSource = "catalog" | "provider" | "registry";

export interface ModelEntry {
  id: string;
  provider: string;
  upstreamModel: string;
  aliases: readonly string[];
  fallbacks: readonly string[];
  source: ModelSource;
}

/** A model from the registry, made ready for one call (llm-local's RegistryModelLoader behind it). */
export interface RegistryLease {
  provider: Provider;
  /** Canonical id with the version resolved ("registry:name@1.2.0"): the cache key uses it. */
  model: string;
  upstreamModel: string;
  release(): void;
}

export interface RegistryModels {
  acquire(id: string, signal: AbortSignal): Promise<RegistryLease>;
  /** Registry models loaded so far, for ListModels. */
  loaded(): Array<{ id: string; upstreamModel: string; provider: string }>;
}

export const REGISTRY_PREFIX = "registry:";

export interface GatewayOptions {
  catalog: Catalog;
  providers: ReadonlyMap<string, Provider>;
  limits: ReadonlyMap<string, { maxConcurrency: number; maxQueue: number }>;
  /** Makes each provider's limiter: per process by default, global through Redis (redis-limiter.ts). */
  limiter?: LimiterFactory;
  /** Providers' requests and tokens per minute (provider-rates.ts), by provider; none when absent. */
  rates?: ReadonlyMap<string, ProviderRateGate>;
  retry: RetryConfig;
  cache: ResponseCache | undefined;
  cacheConfig: Pick<CacheConfig, "maxEntryChars">;
  metrics: LlmMetrics;
  log: Logger;
  registry?: RegistryModels;
  listModelsTtlMs: number;
  tokens: TokenLimits;
}

interface Target {
  route: Route;
  provider: Provider;
  limiter: CallLimiter | undefined;
  rate: ProviderRateGate | undefined;
}

interface Resolved {
  targets: Target[];
  /** The id the cache key uses (an alias resolves to its model). */
  keyModel: string;
  release?: () => void;
}

const FALLBACK_KINDS = new Set(["rate_limited", "unavailable", "auth", "not_found"]);
const LISTING_TIMEOUT_MS = 5_000;
const LISTING_FAILURE_TTL_MS = 5_000;

export class Gateway {
  private readonly flights = new Map<string, Flight>();
  private readonly limiters = new Map<string, CallLimiter>();
  private readonly listings = new Map<string, { expires: number; ids: Promise<string[]> }>();

  constructor(private readonly o: GatewayOptions) {
    const make = o.limiter ?? localLimiter;
    for (const [name, limit] of o.limits) this.limiters.set(name, make(name, limit));
  }

  async generate(call: GenerateCall): Promise<Answer> {
    const started = performance.now();
    const resolved = await this.resolve(call);
    const primary = resolved.targets[0].route;
    const series = this.o.metrics.for(primary.model, primary.provider);
    series.begin();
    let served: Series = series;
    try {
      validateRequest(call.messages, call.params, this.o.tokens);
      call = { ...call, params: withDefaultMaxTokens(call.params, this.o.tokens) };
      // Bypass neither caches nor shares a flight, so it needs no key.
      const key = call.cacheMode === "bypass" ? "" : cacheKey(resolved.keyModel, call.messages, call.params);
      const hit = await this.lookup(key, call.cacheMode, series);
      if (hit) {
        const answer: Answer = { text: hit.deltas.join(""), ...meta(hit, true) };
        served = this.o.metrics.for(hit.model, hit.provider);
        served.completed(performance.now() - started, undefined);
        return answer;
      }
      let done: UpstreamAnswer;
      if (call.cacheMode === "bypass") {
        // Nobody can join: the caller runs the upstream call itself, with its own signal and deadline.
        const alone = callerAlone(call);
        try {
          done = await this.run(alone, "unary", call, resolved.targets, undefined);
        } finally {
          served = this.seriesOf(alone, series);
        }
      } else {
        const flight = this.flight(key, "unary", call, resolved);
        try {
          done = await flight.result(call.signal, call.deadline);
        } finally {
          served = this.seriesOf(flight, series);
        }
      }
      served.completed(performance.now() - started, undefined);
      return { text: done.text, ...meta(done, false) };
    } catch (err) {
      const ce = this.toConnectError(err, call);
      served.completed(performance.now() - started, codeLabel(ce.code));
      throw ce;
    } finally {
      series.end();
      resolved.release?.();
    }
  }

  async *stream(call: GenerateCall): AsyncGenerator<StreamItem> {
    const started = performance.now();
    const resolved = await this.resolve(call);
    const primary = resolved.targets[0].route;
    const series = this.o.metrics.for(primary.model, primary.provider);
    series.begin();
    let served: Series = series;
    let outcome: string | undefined | null = null; // null: not settled (the consumer stopped reading)
    try {
      validateRequest(call.messages, call.params, this.o.tokens);
      call = { ...call, params: withDefaultMaxTokens(call.params, this.o.tokens) };
      // Bypass neither caches nor shares a flight, so it needs no key.
      const key = call.cacheMode === "bypass" ? "" : cacheKey(resolved.keyModel, call.messages, call.params);
      const hit = await this.lookup(key, call.cacheMode, series);
      if (hit) {
        served = this.o.metrics.for(hit.model, hit.provider);
        let first = true;
        for (const text of hit.deltas) {
          if (call.signal.aborted) throw call.signal.reason;
          if (first) served.firstToken(performance.now() - started);
          first = false;
          yield { type: "delta", text };
        }
        yield { type: "done", ...meta(hit, true) };
        outcome = undefined;
        return;
      }
      const flight = this.flight(key, "stream", call, resolved);
      let first = true;
      try {
        // Deltas that arrived while the previous one was being sent go out as one: nothing
        // waits, and a fast upstream does not pay a message per token downstream.
        for await (const { text, answer } of flight.read(call.signal, call.deadline)) {
          if (text) {
            if (first) this.seriesOf(flight, series).firstToken(performance.now() - started);
            first = false;
            yield { type: "delta", text };
          }
          if (answer) yield { type: "done", ...meta(answer, false) };
        }
      } finally {
        served = this.seriesOf(flight, series);
      }
      outcome = undefined;
    } catch (err) {
      const ce = this.toConnectError(err, call);
      outcome = codeLabel(ce.code);
      throw ce;
    } finally {
      served.completed(performance.now() - started, outcome === null ? codeLabel(Code.Canceled) : outcome);
      series.end();
      resolved.release?.();
    }
  }

  /** Embeddings through the model's provider, then its fallbacks; retried and limited like Generate, never cached. */
  async embed(call: EmbedCall): Promise<Embeddings> {
    const started = performance.now();
    const resolved = await this.resolve(call);
    const primary = resolved.targets[0].route;
    const series = this.o.metrics.for(primary.model, primary.provider);
    series.begin();
    let served: Series = series;
    try {
      validateEmbedRequest(call.inputs, call.dimensions);
      const { targets } = resolved;
      let lastError: unknown;
      for (let i = 0; i < targets.length; i++) {
        const { route, provider } = targets[i];
        served = this.o.metrics.for(route.model, route.provider);
        try {
          const cost = { prompt: estimateTokens(call.inputs), output: 0 };
          const res = await this.retrying(targets[i], call.signal, () => call.deadline, NEVER, cost, (r) => r.inputTokens || undefined, () => {
            if (!provider.embed) {
              throw new ConnectError(`model '${route.model}' cannot embed: provider '${route.provider}' has no embeddings API`, Code.InvalidArgument);
            }
            return provider.embed({ upstreamModel: route.upstreamModel, inputs: call.inputs, dimensions: call.dimensions, signal: call.signal });
          });
          served.tokens(res.inputTokens, 0);
          served.completed(performance.now() - started, undefined);
          return { vectors: res.vectors, usage: { inputTokens: res.inputTokens, outputTokens: 0 }, model: route.model, provider: route.provider, upstreamModel: route.upstreamModel };
        } catch (err) {
          lastError = err;
          if (call.signal.aborted || !fallsBack(err)) break;
          if (i + 1 < targets.length) {
            served.fellBack();
            this.o.log.warn({ model: route.model, fallback: targets[i + 1].route.model, err: (err as Error).message }, "llm: falling back");
          }
        }
      }
      throw lastError;
    } catch (err) {
      const ce = this.toConnectError(err, call);
      served.completed(performance.now() - started, codeLabel(ce.code));
      throw ce;
    } finally {
      series.end();
      resolved.release?.();
    }
  }

  /** The generation length a request gets when it sets none, and the most it may ask. */
  get tokenLimits(): TokenLimits {
    return this.o.tokens;
  }

  async listModels(providerFilter: string | undefined): Promise<ModelEntry[]> {
    const out: ModelEntry[] = [];
    const seen = new Set<string>();
    for (const r of this.o.catalog.list()) {
      if (providerFilter && r.provider !== providerFilter) continue;
      out.push({ id: r.model, provider: r.provider, upstreamModel: r.upstreamModel, aliases: r.aliases, fallbacks: r.fallbacks, source: "catalog" });
      seen.add(`${r.provider}\u0000${r.upstreamModel}`);
    }
    const listable = [...this.o.providers].filter(([name, p]) => p.listModels && (!providerFilter || name === providerFilter));
    const listings = await Promise.all(listable.map(async ([name]) => [name, await this.listing(name)] as const));
    for (const [name, ids] of listings) {
      for (const id of ids) {
        if (seen.has(`${name}\u0000${id}`)) continue;
        seen.add(`${name}\u0000${id}`);
        out.push({ id: `${name}/${id}`, provider: name, upstreamModel: id, aliases: [], fallbacks: [], source: "provider" });
      }
    }
    for (const m of this.o.registry?.loaded() ?? []) {
      if (providerFilter && m.provider !== providerFilter) continue;
      out.push({ id: m.id, provider: m.provider, upstreamModel: m.upstreamModel, aliases: [], fallbacks: [], source: "registry" });
    }
    return out;
  }

  metrics(model?: string): ModelMetricsSnapshot[] {
    return this.o.metrics.snapshot(model);
  }

  private async resolve(call: { model: string; signal: AbortSignal }): Promise<Resolved> {
    if (!call.model) throw new ConnectError("model is required; ListModels shows the ids", Code.InvalidArgument);
    if (call.model.startsWith(REGISTRY_PREFIX)) {
      if (!this.o.registry) throw new ConnectError("registry models are not available on this server", Code.FailedPrecondition);
      const lease = await this.o.registry.acquire(call.model, call.signal);
      const route: Route = { model: lease.model, provider: lease.provider.name, upstreamModel: lease.upstreamModel, fallbacks: [], aliases: [] };
      return { targets: [{ route, provider: lease.provider, limiter: undefined, rate: undefined }], keyModel: lease.model, release: () => lease.release() };
    }
    const route = this.o.catalog.resolve(call.model);
    if (!route) {
      const known = this.o.catalog.ids();
      throw new ConnectError(
        `unknown model '${quote(call.model)}'; known models: ${listSome(known) || "none"} (ListModels also shows models providers list, as '<provider>/<model>')`,
        Code.NotFound,
      );
    }
    return { targets: this.o.catalog.chain(route).map((r) => this.target(r)), keyModel: route.model };
  }

  private target(route: Route): Target {
    const provider = this.o.providers.get(route.provider);
    if (!provider) throw new ConnectError(`provider '${route.provider}' is not configured`, Code.FailedPrecondition);
    return { route, provider, limiter: this.limiters.get(route.provider), rate: this.o.rates?.get(route.provider) };
  }

  private async lookup(key: string, mode: CacheMode, series: Series): Promise<CachedAnswer | undefined> {
    if (!this.o.cache || mode !== "use") return undefined;
    const hit = await this.o.cache.get(key);
    series.cache(hit !== undefined);
    traceCacheLookup(hit !== undefined);
    return hit;
  }

  /** Joins the identical call in progress, or starts one (bypass never shares). */
  private flight(key: string, kind: "unary" | "stream", call: GenerateCall, resolved: Resolved): Flight {
    const shared = call.cacheMode !== "bypass";
    const flightKey = `${kind}:${key}`;
    if (shared) {
      const existing = this.flights.get(flightKey);
      if (existing && !existing.done && !existing.signal.aborted) return existing;
    }
    const flight = new Flight(shared);
    // The flight holds the registry lease until it ends; the caller's own release is then a no-op.
    const release = resolved.release;
    resolved.release = undefined;
    if (shared) this.flights.set(flightKey, flight);
    const store = shared && this.o.cache ? (answer: UpstreamAnswer) => this.store(key, kind === "unary" ? [answer.text] : flight.allDeltas, answer) : undefined;
    void this.run(flight, kind, call, resolved.targets, store)
      .then(
        (answer) => flight.complete(answer),
        (err: unknown) => flight.fail(err),
      )
      .finally(() => {
        if (this.flights.get(flightKey) === flight) this.flights.delete(flightKey);
        release?.();
      });
    return flight;
  }

  private async store(key: string, deltas: readonly string[], answer: UpstreamAnswer): Promise<void> {
    const size = deltas.reduce((n, d) => n + d.length, 0);
    if (size > this.o.cacheConfig.maxEntryChars) return;
    const { finishReason, usage, model, provider, upstreamModel } = answer;
    await this.o.cache!.set(key, { deltas: [...deltas], finishReason, usage, model, provider, upstreamModel });
  }

  /** Tries the model, then its fallbacks while no token has been streamed; throws the last failure. */
  private async run(
    flight: UpstreamCall,
    kind: "unary" | "stream",
    call: GenerateCall,
    targets: Target[],
    store: ((answer: UpstreamAnswer) => Promise<void>) | undefined,
  ): Promise<UpstreamAnswer> {
    let lastError: unknown;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      flight.lastTried = { model: target.route.model, provider: target.route.provider };
      try {
        const answer = await this.attempts(flight, kind, call, target);
        // Stored before callers hear the end, so a caller's next identical call (on any replica) hits.
        if (store) await store(answer).catch((err: unknown) => this.o.log.warn({ err }, "llm: storing an answer failed"));
        return answer;
      } catch (err) {
        lastError = err;
        if (flight.deltaEmitted || flight.signal.aborted || !fallsBack(err)) break;
        if (i + 1 < targets.length) {
          this.o.metrics.for(target.route.model, target.route.provider).fellBack();
          this.o.log.warn({ model: target.route.model, fallback: targets[i + 1].route.model, err: (err as Error).message }, "llm: falling back");
        }
      }
    }
    throw lastError;
  }

  /** One model, answering a Generate or a GenerateStream. */
  private attempts(flight: UpstreamCall, kind: "unary" | "stream", call: GenerateCall, target: Target): Promise<UpstreamAnswer> {
    const { route, provider } = target;
    const series = this.o.metrics.for(route.model, route.provider);
    // max_tokens is set by now (withDefaultMaxTokens): the most this call can generate.
    const cost = { prompt: estimateTokens(call.messages.map((m) => m.content)), output: call.params.maxTokens ?? 0 };
    const used = (a: UpstreamAnswer) => a.usage.inputTokens + a.usage.outputTokens || undefined;
    return this.retrying(target, flight.signal, () => flight.deadline(), () => flight.deltaEmitted, cost, used, async () => {
      const req = { upstreamModel: route.upstreamModel, messages: call.messages, params: call.params, signal: flight.signal };
      // A stream's text is in the flight's deltas; its answer carries none.
      const res = kind === "unary" ? await provider.generate(req) : { text: "", ...(await provider.stream(req, flight.delta)) };
      const answer: UpstreamAnswer = {
        text: res.text,
        finishReason: res.finishReason,
        usage: res.usage,
        model: route.model,
        provider: route.provider,
        upstreamModel: route.upstreamModel,
      };
      series.tokens(answer.usage.inputTokens, answer.usage.outputTokens);
      return answer;
    });
  }

  /**
   * Runs `once` within the provider's concurrency limit and rates, retrying on 429, 5xx and
   * connection errors (unless `committed()`: output already went out), bounded by the latest
   * caller deadline. Each attempt costs a request and `cost` tokens, corrected by `used`.
   */
  private async retrying<T>(
    target: Target,
    signal: AbortSignal,
    deadline: () => number | undefined,
    committed: () => boolean,
    cost: TokenCost,
    used: (result: T) => number | undefined,
    once: () => Promise<T>,
  ): Promise<T> {
    const { route, limiter, rate } = target;
    const series = this.o.metrics.for(route.model, route.provider);
    const policy = this.o.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        const release = limiter ? await limiter.acquire(signal) : undefined;
        try {
          // Checked holding the slot, right before the attempt: the rate counts what goes upstream.
          const held = rate ? await rate.admit(cost) : undefined;
          let result: T;
          try {
            result = await traceProviderCall(route, attempt, once);
          } catch (err) {
            held?.fail();
            throw err;
          }
          held?.settle(used(result));
          return result;
        } finally {
          release?.();
        }
      } catch (err) {
        if (!(err instanceof ProviderError) || !err.retryable || committed() || signal.aborted || attempt >= policy.maxAttempts) throw err;
        if (err.options.retryAfterMs !== undefined && err.options.retryAfterMs > policy.maxRetryAfterMs) throw err;
        const wait = backoffMs(policy, attempt, err.options.retryAfterMs);
        const until = deadline();
        if (until !== undefined && Date.now() + wait >= until) throw err;
        series.retried();
        this.o.log.debug({ model: route.model, provider: route.provider, attempt, waitMs: wait, err: err.message }, "llm: retrying");
        await sleep(wait, signal);
      }
    }
  }

  private seriesOf(flight: UpstreamCall, fallback: Series): Series {
    return flight.lastTried ? this.o.metrics.for(flight.lastTried.model, flight.lastTried.provider) : fallback;
  }

  private listing(name: string): Promise<string[]> {
    const now = Date.now();
    const cached = this.listings.get(name);
    if (cached && cached.expires > now) return cached.ids;
    const provider = this.o.providers.get(name)!;
    const entry = { expires: now + this.o.listModelsTtlMs, ids: Promise.resolve<string[]>([]) };
    entry.ids = provider.listModels!(AbortSignal.timeout(LISTING_TIMEOUT_MS)).catch((err: unknown) => {
      this.o.log.warn({ provider: name, err: (err as Error).message }, "llm: provider model listing failed");
      entry.expires = Math.min(entry.expires, Date.now() + LISTING_FAILURE_TTL_MS);
      return [];
    });
    this.listings.set(name, entry);
    return entry.ids;
  }

  /** The one place domain and upstream failures become gRPC statuses. */
  private toConnectError(err: unknown, call: { signal: AbortSignal; deadline?: number }): ConnectError {
    if (call.signal.aborted) {
      const reason: unknown = call.signal.reason;
      if (reason instanceof ConnectError) return reason;
      if (call.deadline !== undefined && Date.now() >= call.deadline) return new ConnectError("the call's deadline passed", Code.DeadlineExceeded);
      return new ConnectError("the call was cancelled", Code.Canceled);
    }
    if (err instanceof ConnectError) return err;
    if (err instanceof ProviderRateLimitedError) return resourceExhausted(err.message, err.retryAfterMs);
    if (err instanceof QueueFullError) {
      return new ConnectError(`too many calls waiting for this model's provider (${err.message}); retry later`, Code.ResourceExhausted);
    }
    if (err instanceof ProviderError) {
      switch (err.kind) {
        case "rate_limited":
          // Retry-After travels on as response metadata (a gRPC header; the OpenAI API's retry-after).
          return new ConnectError(
            `${err.message}; rate limited after retries, retry later`,
            Code.ResourceExhausted,
            err.options.retryAfterMs === undefined ? undefined : { "retry-after": String(Math.ceil(err.options.retryAfterMs / 1000)) },
          );
        case "unavailable":
          return new ConnectError(err.message, Code.Unavailable);
        case "auth":
          return new ConnectError(err.message, Code.FailedPrecondition);
        case "bad_request":
          return new ConnectError(err.message, Code.InvalidArgument);
        case "not_found":
          return new ConnectError(err.message, Code.NotFound);
        case "timeout":
          return new ConnectError(err.message, Code.DeadlineExceeded);
        case "cancelled":
          return new ConnectError(err.message, Code.Canceled);
      }
    }
    this.o.log.error({ err }, "llm: unexpected failure");
    return new ConnectError("internal error in the llm gateway", Code.Internal);
  }
}

/** Whether a failure lets the next model of the chain try. */
function fallsBack(err: unknown): boolean {
  const kind = err instanceof ProviderError ? err.kind : err instanceof QueueFullError || err instanceof ProviderRateLimitedError ? "rate_limited" : undefined;
  return kind !== undefined && FALLBACK_KINDS.has(kind);
}

const NEVER = () => false;

/** A Generate in bypass mode: one caller, whose signal and deadline are the upstream call's. */
function callerAlone(call: GenerateCall): UpstreamCall {
  return {
    lastTried: undefined,
    deltaEmitted: false,
    signal: call.signal,
    deadline: () => call.deadline,
    delta: () => {
      throw new Error("a unary call has no deltas");
    },
  };
}

function meta(a: Omit<AnswerMeta, "cached">, cached: boolean): AnswerMeta {
  return { finishReason: a.finishReason, usage: a.usage, cached, model: a.model, provider: a.provider, upstreamModel: a.upstreamModel };
}

/** Metric label of a code: "resource_exhausted". */
function codeLabel(code: Code): string {
  return codeName(code).toLowerCase();
}
