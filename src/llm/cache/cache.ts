// The response cache behind the gateway: exact match on the canonical request hash.
import type { FinishReason, Usage } from "../providers/provider.js";

export interface CachedAnswer {
  /** The deltas as upstream streamed them; one element for an answer from Generate. */
  deltas: string[];
  finishReason: FinishReason;
  usage: Usage;
  model: string;
  provider: string;
  upstreamModel: string;
}

export interface ResponseCache {
  get(key: string): Promise<CachedAnswer | undefined>;
  set(key: string, answer: CachedAnswer): Promise<void>;
  close(): Promise<void>;
}

export function isCachedAnswer(value: unknown): value is CachedAnswer {
  const v = value as CachedAnswer;
  return (
    typeof v === "object" &&
    v !== null &&
    Array.isArray(v.deltas) &&
    v.deltas.every((d) => typeof d === "string") &&
    typeof v.finishReason === "string" &&
    typeof v.usage?.inputTokens === "number" &&
    typeof v.usage?.outputTokens === "number" &&
    typeof v.model === "string" &&
    typeof v.provider === "string" &&
    typeof v.upstreamModel === "string"
  );
}
