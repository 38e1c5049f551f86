// OpenAI response bodies and stream chunks, built from the LLM domain's answers. Chunks are
// written as text templates around JSON-escaped values: a stream sends one per delta.
import { randomBytes } from "node:crypto";
import type { Answer, AnswerMeta, Embeddings, ModelEntry } from "../llm/gateway.js";
import type { FinishReason, Usage } from "../llm/providers/provider.js";

export type Kind = "chat" | "completion";

// Ids unique per process start and call, without a random draw per call.
const ID_PREFIX = randomBytes(6).toString("hex");
let idCounter = 0;
export function newId(kind: Kind): string {
  return `${kind === "chat" ? "chatcmpl" : "cmpl"}-${ID_PREFIX}${(++idCounter).toString(36)}`;
}

const FINISH: Record<FinishReason, string> = { stop: "stop", length: "length", content_filter: "content_filter", tool_calls: "tool_calls", other: "stop" };

function usageJson(u: Usage): string {
  return `{"prompt_tokens":${u.inputTokens},"completion_tokens":${u.outputTokens},"total_tokens":${u.inputTokens + u.outputTokens}}`;
}

/** The whole answer of a non-streamed call. */
export function answerBody(kind: Kind, id: string, created: number, a: Answer): string {
  const finish = FINISH[a.finishReason];
  if (kind === "chat") {
    return (
      `{"id":"${id}","object":"chat.completion","created":${created},"model":${JSON.stringify(a.model)},` +
      `"choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(a.text)},"refusal":null},"logprobs":null,"finish_reason":"${finish}"}],` +
      `"usage":${usageJson(a.usage)},"system_fingerprint":null}`
    );
  }
  return (
    `{"id":"${id}","object":"text_completion","created":${created},"model":${JSON.stringify(a.model)},` +
    `"choices":[{"index":0,"text":${JSON.stringify(a.text)},"logprobs":null,"finish_reason":"${finish}"}],"usage":${usageJson(a.usage)}}`
  );
}

/** Writes the SSE events of one streamed call: `head` once, then deltas, then the end. */
export class ChunkWriter {
  private readonly prefix: string;
  private readonly usageNull: string;

  constructor(
    private readonly kind: Kind,
    id: string,
    created: number,
    model: string,
    private readonly includeUsage: boolean,
  ) {
    const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    this.prefix = `data: {"id":"${id}","object":"${object}","created":${created},"model":${JSON.stringify(model)},"choices":[`;
    this.usageNull = includeUsage ? `,"usage":null` : "";
  }

  /** The chat stream's first event announces the assistant's role. */
  head(): string {
    if (this.kind !== "chat") return "";
    return `${this.prefix}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${this.usageNull}}\n\n`;
  }

  delta(text: string): string {
    const t = JSON.stringify(text);
    const choice = this.kind === "chat" ? `{"index":0,"delta":{"content":${t}},"logprobs":null,"finish_reason":null}` : `{"index":0,"text":${t},"logprobs":null,"finish_reason":null}`;
    return `${this.prefix}${choice}]${this.usageNull}}\n\n`;
  }

  /** The finish reason, the usage event when asked for, and [DONE]. */
  end(done: AnswerMeta): string {
    const finish = FINISH[done.finishReason];
    const choice = this.kind === "chat" ? `{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}` : `{"index":0,"text":"","logprobs":null,"finish_reason":"${finish}"}`;
    let out = `${this.prefix}${choice}]${this.usageNull}}\n\n`;
    if (this.includeUsage) out += `${this.prefix}],"usage":${usageJson(done.usage)}}\n\n`;
    return out + "data: [DONE]\n\n";
  }
}

export function embeddingsBody(e: Embeddings, base64: boolean): string {
  const data = e.vectors.map((v, index) => `{"object":"embedding","index":${index},"embedding":${base64 ? `"${float32Base64(v)}"` : JSON.stringify(v)}}`);
  const u = e.usage.inputTokens;
  return `{"object":"list","data":[${data.join(",")}],"model":${JSON.stringify(e.model)},"usage":{"prompt_tokens":${u},"total_tokens":${u}}}`;
}

/** Little-endian float32 components in base64, as OpenAI encodes them. */
function float32Base64(v: readonly number[]): string {
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i], i * 4);
  return buf.toString("base64");
}

export function modelJson(id: string, m: ModelEntry): Record<string, unknown> {
  return { id, object: "model", created: 0, owned_by: m.provider };
}

export function modelsBody(models: readonly ModelEntry[]): string {
  return JSON.stringify({ object: "list", data: models.map((m) => modelJson(m.id, m)) });
}
