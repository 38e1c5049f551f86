// Validation of generation requests and the canonical cache key.
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatMessage, GenerateParams } from "./providers/provider.js";

export const MAX_STOP_SEQUENCES = 8;
export const MAX_MESSAGES = 10_000;

const roles = new Set(["system", "user", "assistant"]);

/** The server's generation length: used when a request sets no max_tokens, and the most it may ask. */
export interface TokenLimits {
  readonly defaultMaxTokens: number;
  readonly maxTokensLimit: number;
}

/** Throws INVALID_ARGUMENT naming the first bad field and what would be right. */
export function validateRequest(messages: readonly ChatMessage[], params: GenerateParams, limits: TokenLimits): void {
  if (messages.length === 0) throw bad("messages or prompt is required");
  if (messages.length > MAX_MESSAGES) throw bad(`at most ${MAX_MESSAGES} messages are allowed, got ${messages.length}`);
  let spoken = false;
  for (let i = 0; i < messages.length; i++) {
    const role = messages[i].role;
    if (!roles.has(role)) throw bad(`messages[${i}].role must be system, user or assistant`);
    if (role !== "system") spoken = true;
  }
  if (!spoken) throw bad("messages need at least one user or assistant message");
  const { maxTokens, temperature, topP, stop, seed } = params;
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > limits.maxTokensLimit)) {
    throw bad(`max_tokens must be 1-${limits.maxTokensLimit} (the server's llm.maxTokensLimit), got ${maxTokens}`);
  }
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) throw bad(`temperature must be 0-2, got ${temperature}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw bad(`top_p must be in (0, 1], got ${topP}`);
  if (stop.length > MAX_STOP_SEQUENCES) throw bad(`at most ${MAX_STOP_SEQUENCES} stop sequences are allowed, got ${stop.length}`);
  for (let i = 0; i < stop.length; i++) {
    if (stop[i].length === 0 || stop[i].length > 256) throw bad(`stop[${i}] must be 1-256 characters`);
  }
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw bad(`seed must be an integer within ±2^53, got ${seed}`);
}

/** The parameters with the server's default length when the request set none (no generation runs unbounded). */
export function withDefaultMaxTokens(params: GenerateParams, limits: TokenLimits): GenerateParams {
  return params.maxTokens !== undefined ? params : { ...params, maxTokens: limits.defaultMaxTokens };
}

// Module-level, not a closure per call: validation runs on every Generate.
function bad(msg: string): ConnectError {
  return new ConnectError(msg, Code.InvalidArgument);
}

/**
 * SHA-256 of the canonical request: the model's public id, the messages and the parameters.
 * The text is exactly `canonicalJson({ messages, model, params })`, written out directly
 * because this runs on every call (a test checks the two agree).
 */
export function cacheKey(model: string, messages: readonly ChatMessage[], params: GenerateParams): string {
  let text = '{"messages":[';
  for (let i = 0; i < messages.length; i++) {
    if (i > 0) text += ",";
    text += `{"content":${JSON.stringify(messages[i].content)},"role":${JSON.stringify(messages[i].role)}}`;
  }
  text += `],"model":${JSON.stringify(model)},"params":{`;
  const { maxTokens, seed, stop, temperature, topP } = params;
  const fields: string[] = [];
  if (maxTokens !== undefined) fields.push(`"maxTokens":${JSON.stringify(maxTokens)}`);
  if (seed !== undefined) fields.push(`"seed":${JSON.stringify(seed)}`);
  fields.push(`"stop":${JSON.stringify(stop)}`);
  if (temperature !== undefined) fields.push(`"temperature":${JSON.stringify(temperature)}`);
  if (topP !== undefined) fields.push(`"topP":${JSON.stringify(topP)}`);
  text += `${fields.join(",")}}}`;
  return createHash("sha256").update(text).digest("hex");
}
