// Fake Anthropic Messages API: JSON answers, the SSE event sequence (message_start,
// content_block_*, ping, message_delta with usage, message_stop), Anthropic error bodies.
import { FakeLlmServer, type Dialect } from "./fake-llm-http.js";

const errorTypes: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

export const anthropicDialect: Dialect = {
  chatPath: "/v1/messages",
  modelsPath: "/v1/models",
  isStream: (body) => body.stream === true,
  // The API takes the key as x-api-key or, as current SDKs send it, as a bearer token.
  authorized: (headers, apiKey) =>
    (headers["x-api-key"] === apiKey || headers.authorization === `Bearer ${apiKey}`) && typeof headers["anthropic-version"] === "string",
  json: (answer, body) => ({
    id: "msg_fake1",
    type: "message",
    role: "assistant",
    model: body.model,
    content: [{ type: "text", text: answer.deltas.join("") }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  }),
  sse: (answer, body) => ({
    head: [
      {
        event: "message_start",
        data: JSON.stringify({
          type: "message_start",
          message: {
            id: "msg_fake1",
            type: "message",
            role: "assistant",
            model: body.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: answer.inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
          },
        }),
      },
      { event: "content_block_start", data: JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) },
      { event: "ping", data: JSON.stringify({ type: "ping" }) },
    ],
    delta: (text) => ({ event: "content_block_delta", data: JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }) }),
    tail: [
      { event: "content_block_stop", data: JSON.stringify({ type: "content_block_stop", index: 0 }) },
      {
        event: "message_delta",
        data: JSON.stringify({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: answer.outputTokens } }),
      },
      { event: "message_stop", data: JSON.stringify({ type: "message_stop" }) },
    ],
  }),
  errorBody: (status, message) => ({ type: "error", error: { type: errorTypes[status] ?? "api_error", message } }),
  streamError: (message) => ({ event: "error", data: JSON.stringify({ type: "error", error: { type: "overloaded_error", message } }) }),
  models: (ids) => ({
    data: ids.map((id) => ({ type: "model", id, display_name: id, created_at: "2025-01-01T00:00:00Z" })),
    has_more: false,
    first_id: ids[0] ?? null,
    last_id: ids.at(-1) ?? null,
  }),
};

export function startFakeAnthropic(opts: { apiKey?: string } = {}): Promise<FakeLlmServer> {
  return FakeLlmServer.start(anthropicDialect, { apiKey: opts.apiKey ?? "sk-ant-fake-0123456789" });
}
