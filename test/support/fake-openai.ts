// Fake OpenAI Chat Completions API (also what Hugging Face's router, TGI, vLLM, Ollama and
// llama.cpp server speak): JSON answers, SSE chunks ending in a usage chunk and [DONE],
// OpenAI-shaped error bodies.
import { fakeTokens, fakeVector, FakeLlmServer, type Dialect } from "./fake-llm-http.js";

export const openaiDialect: Dialect = {
  chatPath: "/chat/completions",
  modelsPath: "/models",
  isStream: (body) => body.stream === true,
  authorized: (headers, apiKey) => headers.authorization === `Bearer ${apiKey}`,
  json: (answer, body) => ({
    id: "chatcmpl-fake1",
    object: "chat.completion",
    created: 1_764_000_000,
    model: body.model,
    system_fingerprint: "fp_fake",
    choices: [{ index: 0, message: { role: "assistant", content: answer.deltas.join(""), refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: answer.inputTokens, completion_tokens: answer.outputTokens, total_tokens: answer.inputTokens + answer.outputTokens },
  }),
  sse: (answer, body) => {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      JSON.stringify({ id: "chatcmpl-fake1", object: "chat.completion.chunk", created: 1_764_000_000, model: body.model, system_fingerprint: "fp_fake", choices, ...extra });
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    return {
      head: [{ data: chunk([{ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }], includeUsage ? { usage: null } : {}) }],
      delta: (text) => ({ data: chunk([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }], includeUsage ? { usage: null } : {}) }),
      tail: [
        { data: chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], includeUsage ? { usage: null } : {}) },
        ...(includeUsage
          ? [{ data: chunk([], { usage: { prompt_tokens: answer.inputTokens, completion_tokens: answer.outputTokens, total_tokens: answer.inputTokens + answer.outputTokens } }) }]
          : []),
        { data: "[DONE]" },
      ],
    };
  },
  errorBody: (status, message) => ({
    error: {
      message,
      type: status === 429 ? "rate_limit_exceeded" : status === 401 ? "invalid_request_error" : status >= 500 ? "server_error" : "invalid_request_error",
      param: null,
      code: status === 401 ? "invalid_api_key" : null,
    },
  }),
  streamError: (message) => ({ data: JSON.stringify({ error: { message, type: "server_error", param: null, code: null } }) }),
  models: (ids) => ({ object: "list", data: ids.map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "fake" })) }),
  embeddingsPath: "/embeddings",
  embeddings: (body) => {
    const texts = typeof body.input === "string" ? [body.input] : (body.input as string[]);
    const base64 = body.encoding_format === "base64";
    const data = texts.map((t, index) => {
      const v = fakeVector(t, typeof body.dimensions === "number" ? body.dimensions : 4);
      return { object: "embedding", index, embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString("base64") : v };
    });
    const tokens = fakeTokens(texts);
    return { object: "list", data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  },
};

export function startFakeOpenAI(opts: { apiKey?: string } = {}): Promise<FakeLlmServer> {
  return FakeLlmServer.start(openaiDialect, { apiKey: opts.apiKey ?? "sk-fake-openai-0123456789", basePath: "/v1" });
}
