// The official Python `openai` SDK (from .venv) pointed at openloop's base URL, with an OpenAI
// fake upstream: chat, streaming with usage, embeddings as floats and base64, and errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeTokens, fakeVector, type FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { pythonCheck } from "./helpers.js";

const KEY = "openai-python-test-key-0123456789";
describe("the Python SDK against a configured upstream", () => {
  let upstream: FakeLlmServer;
  let s: TestServer;
  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    s = await startTestServer({
      server: { apiKeys: [KEY] },
      llm: {
        providers: { openai: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } },
        models: [
          { id: "gpt-test", provider: "openai", upstreamModel: "gpt-upstream" },
          { id: "embed-test", provider: "openai", upstreamModel: "text-embedding-upstream" },
        ],
      },
    });
  });
  afterAll(async () => {
    await s?.close();
    await upstream?.close();
  });

  it("gets answers, a stream with usage, float and base64 vectors, and OpenAI's errors", async () => {
    const out = await pythonCheck(s.baseUrl, KEY, "gpt-test", "embed-test");
    expect(out.chat).toEqual({ text: "Hello, world!", finish_reason: "stop", usage: expect.objectContaining({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 }) });
    expect(out.stream.text).toBe("Hello, world!");
    expect(out.stream.finish_reasons).toEqual(["stop"]);
    expect(out.stream.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
    const texts = ["alpha beta", "gamma"];
    expect(out.embeddings.float).toEqual(texts.map((t) => fakeVector(t)));
    expect(out.embeddings.base64).toEqual(texts.map((t) => fakeVector(t)));
    expect(out.embeddings.usage).toMatchObject({ prompt_tokens: fakeTokens(texts), total_tokens: fakeTokens(texts) });
    expect(out.errors).toEqual({
      n: { status: 400, param: "n", type: "invalid_request_error" },
      model: { status: 404, code: "model_not_found" },
      key: { status: 401 },
    });
    // The content-part array reached upstream as text.
    expect(upstream.chatRequests[0].body.messages).toEqual([
      { role: "system", content: "Answer in one word." },
      { role: "user", content: "What is the capital of France?" },
    ]);
  });
});
