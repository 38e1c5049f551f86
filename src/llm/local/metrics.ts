// Prometheus metrics of in-process models, labelled by provider name, on the server's registry.
import { Counter, Gauge, type Registry } from "prom-client";

export interface LocalMetrics {
  /** Requests generating now (one context sequence each). */
  readonly active: Gauge<"provider">;
  /** Requests waiting for a free sequence. */
  readonly queued: Gauge<"provider">;
  /** Tokens sampled by the model, counted as they are generated (cancelled requests included). */
  readonly generatedTokens: Counter<"provider">;
  /** Tokens of templated prompts evaluated. */
  readonly promptTokens: Counter<"provider">;
}

const byRegistry = new WeakMap<Registry, LocalMetrics>();

/** The metrics on `registry`, created once however many local models register on it. */
export function localMetrics(registry: Registry): LocalMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    const registers = [registry];
    m = {
      active: new Gauge({ name: "openloop_llm_local_active_requests", help: "Requests generating on an in-process model now", labelNames: ["provider"], registers }),
      queued: new Gauge({ name: "openloop_llm_local_queued_requests", help: "Requests waiting for a free sequence of an in-process model", labelNames: ["provider"], registers }),
      generatedTokens: new Counter({ name: "openloop_llm_local_generated_tokens_total", help: "Tokens sampled by in-process models, including cancelled generations", labelNames: ["provider"], registers }),
      promptTokens: new Counter({ name: "openloop_llm_local_prompt_tokens_total", help: "Templated prompt tokens evaluated by in-process models", labelNames: ["provider"], registers }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
