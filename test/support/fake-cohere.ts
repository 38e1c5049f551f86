// Fake Cohere v2 Chat API: JSON answers, the SSE event sequence (message-start,
// content-start, content-delta, content-end, message-end with usage), Cohere error bodies.
import { fakeTokens, fakeVector, FakeLlmServer, type Dialect } from "./fake-llm-http.js";

const usage = (input: number, output: number) => ({
  billed_units: { input_tokens: input, output_tokens: output },
  tokens: { input_tokens: input, output_tokens: output },
});

const frame = (type: string, payload: Record<string, unknown>) => ({ event: type, data: JSON.stringify({ type, ...payload }) });

export const cohereDialect: Dialect = {
  chatPath: "/v2/chat",
  modelsPath: "/v1/models",
  isStream: (body) => body.stream === true,
  authorized: (headers, apiKey) => headers.authorization === `Bearer ${apiKey}`,
  json: (answer) => ({
    id: "c0ffee00-fake",
    finish_reason: "COMPLETE",
    message: { role: "assistant", content: [{ type: "text", text: answer.deltas.join("") }] },
    usage: usage(answer.inputTokens, answer.outputTokens),
  }),
  sse: (answer) => ({
    head: [
      { ...frame("message-start", { id: "c0ffee00-fake", delta: { message: { role: "assistant", content: [], tool_plan: "", tool_calls: [], citations: [] } } }) },
      frame("content-start", { index: 0, delta: { message: { content: { type: "text", text: "" } } } }),
    ],
    delta: (text) => frame("content-delta", { index: 0, delta: { message: { content: { text } } } }),
    tail: [
      frame("content-end", { index: 0 }),
      frame("message-end", { delta: { finish_reason: "COMPLETE", usage: usage(answer.inputTokens, answer.outputTokens) } }),
    ],
  }),
  errorBody: (_status, message) => ({ message }),
  models: (ids) => ({ models: ids.map((name) => ({ name, endpoints: ["chat"], context_length: 4096 })) }),
  embeddingsPath: "/v2/embed",
  embeddings: (body) => {
    const texts = body.texts as string[];
    const dims = typeof body.output_dimension === "number" ? body.output_dimension : 4;
    return {
      id: "e0ffee00-fake",
      embeddings: { float: texts.map((t) => fakeVector(t, dims)) },
      texts,
      meta: { api_version: { version: "2" }, billed_units: { input_tokens: fakeTokens(texts) } },
    };
  },
};

export function startFakeCohere(opts: { apiKey?: string } = {}): Promise<FakeLlmServer> {
  return FakeLlmServer.start(cohereDialect, { apiKey: opts.apiKey ?? "co-fake-0123456789abcdef" });
}
