// OpenAI request bodies (chat completions, legacy completions, embeddings) read into the LLM
// domain's calls. Fields openloop cannot honour are refused with a 400 naming them, never
// silently dropped: an application would otherwise get answers it did not ask for.
import type { CacheMode } from "../llm/gateway.js";
import type { ChatMessage, ChatRole, GenerateParams } from "../llm/providers/provider.js";
import { OpenAIRequestError } from "./errors.js";

type Json = Record<string, unknown>;

export interface GenerateRequest {
  model: string;
  messages: ChatMessage[];
  params: GenerateParams;
  stream: boolean;
  includeUsage: boolean;
}

export interface EmbeddingsRequest {
  model: string;
  inputs: string[];
  dimensions?: number;
  base64: boolean;
}

const ROLES: Record<string, ChatRole> = { system: "system", developer: "system", user: "user", assistant: "assistant" };
const CACHE_MODES: Record<string, CacheMode> = { use: "use", bypass: "bypass", refresh: "refresh" };

/** Parses a request body; anything but a JSON object is a 400. */
export function parseBody(text: string): Json {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OpenAIRequestError("the request body is not valid JSON", null);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new OpenAIRequestError("the request body must be a JSON object", null);
  return body as Json;
}

/** POST /v1/chat/completions. */
export function chatRequest(body: Json): GenerateRequest {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new OpenAIRequestError("messages must be a non-empty array", "messages");
  refuseUnsupported(body);
  return { ...common(body), messages: messages.map(chatMessage) };
}

/** POST /v1/completions: the prompt becomes one user message (openloop's models are chat models). */
export function completionRequest(body: Json): GenerateRequest {
  let prompt = body.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== "string" || prompt === "") throw new OpenAIRequestError("prompt must be one non-empty string", "prompt");
  for (const field of ["suffix", "logprobs"] as const) {
    if (body[field] !== undefined && body[field] !== null) throw new OpenAIRequestError(`${field} is not supported`, field);
  }
  if (body.echo === true) throw new OpenAIRequestError("echo is not supported", "echo");
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1) throw new OpenAIRequestError("best_of must be 1", "best_of");
  return { ...common(body), messages: [{ role: "user", content: prompt }] };
}

/** POST /v1/embeddings. */
export function embeddingsRequest(body: Json): EmbeddingsRequest {
  const model = requiredModel(body);
  const input = body.input;
  let inputs: string[];
  if (typeof input === "string") inputs = [input];
  else if (Array.isArray(input) && input.every((x) => typeof x === "string")) inputs = input as string[];
  else if (Array.isArray(input)) throw new OpenAIRequestError("input must be text or an array of texts; token arrays are not supported", "input");
  else throw new OpenAIRequestError("input must be a string or an array of strings", "input");
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") throw new OpenAIRequestError(`encoding_format must be float or base64, got ${String(format)}`, "encoding_format");
  const dimensions = optionalNumber(body, "dimensions");
  return { model, inputs, dimensions, base64: format === "base64" };
}

/** The response cache mode a request asks for in `x-openloop-cache` (use, bypass, refresh); default use. */
export function cacheModeOf(header: string | string[] | undefined): CacheMode {
  if (header === undefined) return "use";
  const mode = CACHE_MODES[String(header).trim().toLowerCase()];
  if (!mode) throw new OpenAIRequestError(`x-openloop-cache must be use, bypass or refresh, got '${String(header).slice(0, 40)}'`, null);
  return mode;
}

function common(body: Json): Omit<GenerateRequest, "messages"> {
  const model = requiredModel(body);
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1) throw new OpenAIRequestError(`n must be 1: openloop generates one choice per request, got ${JSON.stringify(n)}`, "n");
  const maxTokens = optionalNumber(body, "max_completion_tokens") ?? optionalNumber(body, "max_tokens");
  const params: GenerateParams = { stop: stopOf(body.stop) };
  if (maxTokens !== undefined) params.maxTokens = maxTokens;
  const temperature = optionalNumber(body, "temperature");
  if (temperature !== undefined) params.temperature = temperature;
  const topP = optionalNumber(body, "top_p");
  if (topP !== undefined) params.topP = topP;
  const seed = optionalNumber(body, "seed");
  if (seed !== undefined) params.seed = seed;
  if (body.user !== undefined && body.user !== null && typeof body.user !== "string") throw new OpenAIRequestError("user must be a string", "user");
  const stream = body.stream === true;
  const options = body.stream_options as { include_usage?: unknown } | null | undefined;
  if (options !== undefined && options !== null && !stream) throw new OpenAIRequestError("stream_options is only allowed with stream: true", "stream_options");
  return { model, params, stream, includeUsage: options?.include_usage === true };
}

function refuseUnsupported(body: Json): void {
  for (const field of ["tools", "functions"] as const) {
    const v = body[field];
    if (Array.isArray(v) && v.length > 0) throw new OpenAIRequestError(`${field} are not supported by openloop's chat completions`, field);
  }
  if (body.logprobs === true) throw new OpenAIRequestError("logprobs are not supported", "logprobs");
  const format = body.response_format as { type?: unknown } | null | undefined;
  if (format && format.type !== "text") throw new OpenAIRequestError("response_format must be {\"type\": \"text\"}; use a pipeline's json_schema step for structured output", "response_format");
}

function chatMessage(m: unknown, i: number): ChatMessage {
  if (m === null || typeof m !== "object") throw new OpenAIRequestError(`messages[${i}] must be an object`, `messages[${i}]`);
  const { role, content } = m as { role?: unknown; content?: unknown };
  const mapped = typeof role === "string" ? ROLES[role] : undefined;
  if (!mapped) throw new OpenAIRequestError(`messages[${i}].role must be system, developer, user or assistant, got ${JSON.stringify(role)}`, `messages[${i}].role`);
  return { role: mapped, content: textOf(content, i) };
}

/** Text content, or an array of text parts (joined with newlines, as OpenAI-compatible servers do). */
function textOf(content: unknown, i: number): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) return "";
  if (!Array.isArray(content)) throw new OpenAIRequestError(`messages[${i}].content must be a string or an array of text parts`, `messages[${i}].content`);
  const texts: string[] = [];
  content.forEach((part: { type?: unknown; text?: unknown }, j) => {
    if (part?.type !== "text" || typeof part.text !== "string") {
      throw new OpenAIRequestError(`messages[${i}].content[${j}] must be a text part ({"type": "text", "text": ...}); other parts are not supported`, `messages[${i}].content[${j}]`);
    }
    texts.push(part.text);
  });
  return texts.join("\n");
}

function requiredModel(body: Json): string {
  if (typeof body.model !== "string" || body.model === "") throw new OpenAIRequestError("you must provide a model parameter", "model");
  return body.model;
}

function optionalNumber(body: Json, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new OpenAIRequestError(`${field} must be a number, got ${JSON.stringify(v)}`, field);
  return v;
}

function stopOf(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  if (typeof stop === "string") return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === "string")) return stop as string[];
  throw new OpenAIRequestError("stop must be a string or an array of strings", "stop");
}
