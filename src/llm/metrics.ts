// Figures per model and provider: Prometheus metrics on the shared registry (for /metrics)
// and a window of recent latencies for GetMetrics percentiles.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

const WINDOW = 2048;
/** Distinct model/provider pairs tracked; callers can name models freely ("<provider>/<model>"). */
const MAX_SERIES = 500;
const OTHER = "(other)";

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

export interface ModelMetricsSnapshot {
  model: string;
  provider: string;
  requests: number;
  errors: number;
  errorsByCode: Record<string, number>;
  inputTokens: number;
  outputTokens: number;
  cacheHits: number;
  cacheMisses: number;
  inFlight: number;
  latency: LatencySummary;
  timeToFirstToken: LatencySummary;
}

class LatencyWindow {
  private readonly samples = new Float64Array(WINDOW);
  private n = 0;

  add(ms: number): void {
    this.samples[this.n % WINDOW] = ms;
    this.n++;
  }

  summary(): LatencySummary {
    const count = Math.min(this.n, WINDOW);
    if (count === 0) return { count: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0 };
    const sorted = Float64Array.from(this.samples.subarray(0, count)).sort();
    const at = (q: number) => sorted[Math.min(count - 1, Math.ceil(q * count) - 1)];
    let sum = 0;
    for (const v of sorted) sum += v;
    return { count: this.n, meanMs: sum / count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99) };
  }
}

type Child<T extends { labels(...v: string[]): unknown }> = ReturnType<T["labels"]>;

export class Series {
  requests = 0;
  inputTokens = 0;
  outputTokens = 0;
  cacheHits = 0;
  cacheMisses = 0;
  inFlight = 0;
  readonly errorsByCode = new Map<string, number>();
  readonly latency = new LatencyWindow();
  readonly ttft = new LatencyWindow();
  // Label lookups cost more than the updates: resolve each child once.
  private readonly c: {
    requests: Child<Counter<"model" | "provider">>;
    inputTokens: Child<Counter<"model" | "provider">>;
    outputTokens: Child<Counter<"model" | "provider">>;
    cacheHits: Child<Counter<"model" | "provider">>;
    cacheMisses: Child<Counter<"model" | "provider">>;
    retries: Child<Counter<"model" | "provider">>;
    fallbacks: Child<Counter<"model" | "provider">>;
    inFlight: Child<Gauge<"model" | "provider">>;
    duration: Child<Histogram<"model" | "provider">>;
    ttft: Child<Histogram<"model" | "provider">>;
  };

  constructor(
    readonly model: string,
    readonly provider: string,
    private readonly m: PromMetrics,
  ) {
    this.c = {
      requests: m.requests.labels(model, provider),
      inputTokens: m.inputTokens.labels(model, provider),
      outputTokens: m.outputTokens.labels(model, provider),
      cacheHits: m.cacheHits.labels(model, provider),
      cacheMisses: m.cacheMisses.labels(model, provider),
      retries: m.retries.labels(model, provider),
      fallbacks: m.fallbacks.labels(model, provider),
      inFlight: m.inFlight.labels(model, provider),
      duration: m.duration.labels(model, provider),
      ttft: m.ttft.labels(model, provider),
    };
  }

  begin(): void {
    this.inFlight++;
    this.c.inFlight.inc();
  }

  end(): void {
    this.inFlight--;
    this.c.inFlight.dec();
  }

  completed(latencyMs: number, code: string | undefined): void {
    this.requests++;
    this.latency.add(latencyMs);
    this.c.requests.inc();
    this.c.duration.observe(latencyMs / 1000);
    if (code !== undefined) {
      this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
      this.m.errors.inc({ model: this.model, provider: this.provider, code });
    }
  }

  firstToken(ms: number): void {
    this.ttft.add(ms);
    this.c.ttft.observe(ms / 1000);
  }

  tokens(input: number, output: number): void {
    this.inputTokens += input;
    this.outputTokens += output;
    if (input > 0) this.c.inputTokens.inc(input);
    if (output > 0) this.c.outputTokens.inc(output);
  }

  cache(hit: boolean): void {
    if (hit) this.cacheHits++;
    else this.cacheMisses++;
    (hit ? this.c.cacheHits : this.c.cacheMisses).inc();
  }

  retried(): void {
    this.c.retries.inc();
  }

  fellBack(): void {
    this.c.fallbacks.inc();
  }

  snapshot(): ModelMetricsSnapshot {
    let errors = 0;
    for (const n of this.errorsByCode.values()) errors += n;
    return {
      model: this.model,
      provider: this.provider,
      requests: this.requests,
      errors,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      cacheHits: this.cacheHits,
      cacheMisses: this.cacheMisses,
      inFlight: this.inFlight,
      latency: this.latency.summary(),
      timeToFirstToken: this.ttft.summary(),
    };
  }
}

interface PromMetrics {
  requests: Counter<"model" | "provider">;
  errors: Counter<"model" | "provider" | "code">;
  inputTokens: Counter<"model" | "provider">;
  outputTokens: Counter<"model" | "provider">;
  cacheHits: Counter<"model" | "provider">;
  cacheMisses: Counter<"model" | "provider">;
  retries: Counter<"model" | "provider">;
  fallbacks: Counter<"model" | "provider">;
  inFlight: Gauge<"model" | "provider">;
  duration: Histogram<"model" | "provider">;
  ttft: Histogram<"model" | "provider">;
}

export class LlmMetrics {
  private readonly series = new Map<string, Series>();
  private readonly prom: PromMetrics;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = ["model", "provider"] as const;
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    this.prom = {
      requests: new Counter({ name: "openloop_llm_requests_total", help: "LLM calls answered, including cached and failed ones", labelNames, registers }),
      errors: new Counter({ name: "openloop_llm_errors_total", help: "LLM calls that failed, by gRPC code", labelNames: [...labelNames, "code"], registers }),
      inputTokens: new Counter({ name: "openloop_llm_input_tokens_total", help: "Input tokens reported upstream", labelNames, registers }),
      outputTokens: new Counter({ name: "openloop_llm_output_tokens_total", help: "Output tokens reported upstream", labelNames, registers }),
      cacheHits: new Counter({ name: "openloop_llm_cache_hits_total", help: "Calls answered from the response cache", labelNames, registers }),
      cacheMisses: new Counter({ name: "openloop_llm_cache_misses_total", help: "Cache lookups that missed", labelNames, registers }),
      retries: new Counter({ name: "openloop_llm_upstream_retries_total", help: "Upstream attempts retried after a 429, 5xx or connection error", labelNames, registers }),
      fallbacks: new Counter({ name: "openloop_llm_fallbacks_total", help: "Calls handed to a fallback model after this one failed", labelNames, registers }),
      inFlight: new Gauge({ name: "openloop_llm_in_flight", help: "LLM calls in progress", labelNames, registers }),
      duration: new Histogram({ name: "openloop_llm_request_duration_seconds", help: "Whole-call latency", labelNames, buckets, registers }),
      ttft: new Histogram({ name: "openloop_llm_time_to_first_token_seconds", help: "Time to the first streamed token", labelNames, buckets, registers }),
    };
  }

  for(model: string, provider: string): Series {
    let key = `${provider}\u0000${model}`;
    let s = this.series.get(key);
    if (s) return s;
    // Past the bound, further models of a provider share one series (providers are few).
    if (this.series.size >= MAX_SERIES) {
      model = OTHER;
      key = `${provider}\u0000${OTHER}`;
      s = this.series.get(key);
      if (s) return s;
    }
    s = new Series(model, provider, this.prom);
    this.series.set(key, s);
    return s;
  }

  snapshot(model?: string): ModelMetricsSnapshot[] {
    const out: ModelMetricsSnapshot[] = [];
    for (const s of this.series.values()) if (!model || s.model === model) out.push(s.snapshot());
    return out.sort((a, b) => a.model.localeCompare(b.model) || a.provider.localeCompare(b.provider));
  }
}
