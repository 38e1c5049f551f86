// The span of one upstream provider call (one attempt), with the GenAI semantic conventions'
// attribute names where they exist.
import { annotateSpan, inSpan, SpanKind, tracingEnabled } from "./tracer.js";

interface UpstreamRoute {
  readonly model: string;
  readonly provider: string;
  readonly upstreamModel: string;
}

interface WithUsage {
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number };
}

/** Runs one attempt of an upstream call in a CLIENT span "chat <upstream model>"; token counts are added when it answers. */
export function traceProviderCall<T>(route: UpstreamRoute, attempt: number, call: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return call();
  const attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": route.provider,
    "gen_ai.request.model": route.upstreamModel,
    "openloop.llm.model": route.model,
    "openloop.llm.attempt": attempt,
    // A call that reaches the provider is a cache miss; hits are marked on the Generate span.
    "openloop.llm.cache_hit": false,
  };
  return inSpan(`chat ${route.upstreamModel}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const res = await call();
    const usage = (res as Partial<WithUsage>).usage;
    if (usage) span?.setAttributes({ "gen_ai.usage.input_tokens": usage.inputTokens, "gen_ai.usage.output_tokens": usage.outputTokens });
    return res;
  });
}

/** Marks the active span (the Generate call's) with whether the response cache answered it. */
export function traceCacheLookup(hit: boolean): void {
  if (tracingEnabled()) annotateSpan({ "openloop.llm.cache_hit": hit });
}
