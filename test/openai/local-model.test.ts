// The OpenAI SDKs against the embedded SmolLM2 model, with no keys anywhere: the server runs
// open on loopback and the model runs in process (short answers keep this quick).
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDED_MODEL_ID } from "../../src/llm/config.js";
import { ensureModel } from "../llm/local-support.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { pythonCheck } from "./helpers.js";

/** SmolLM2-135M's hidden size: the length of its embeddings. */
const EMBEDDING_LENGTH = 576;

let s: TestServer;
let client: OpenAI;

beforeAll(async () => {
  ensureModel();
  s = await startTestServer({});
  // The SDK insists on a key; a server without keys takes any.
  client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: "unused", maxRetries: 0, defaultHeaders: { "x-openloop-cache": "bypass" } });
});
afterAll(() => s?.close());

describe("the embedded model through the Node SDK", () => {
  it("answers a chat and streams the same greedy answer, with usage", async () => {
    const messages = [
      { role: "system" as const, content: "Answer in one word." },
      { role: "user" as const, content: "What is the capital of France?" },
    ];
    const whole = await client.chat.completions.create({ model: EMBEDDED_MODEL_ID, messages, max_tokens: 8 });
    expect(whole.choices[0].message.content).toContain("Paris");
    expect(whole.usage?.completion_tokens).toBeGreaterThan(0);
    expect(whole.usage?.completion_tokens).toBeLessThanOrEqual(8);

    const stream = await client.chat.completions.create({ model: EMBEDDED_MODEL_ID, messages, max_tokens: 8, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect(usage).toEqual(whole.usage);
  });

  it("embeds texts with the model's embedding context, the same as floats and as base64", async () => {
    const texts = ["The cat sat on the mat.", "Stock markets fell sharply today."];
    const floats = await client.embeddings.create({ model: EMBEDDED_MODEL_ID, input: texts, encoding_format: "float" });
    const decoded = await client.embeddings.create({ model: EMBEDDED_MODEL_ID, input: texts });
    expect(floats.data.map((d) => d.embedding.length)).toEqual([EMBEDDING_LENGTH, EMBEDDING_LENGTH]);
    expect(decoded.data.map((d) => d.embedding)).toEqual(floats.data.map((d) => d.embedding));
    expect(floats.data[0].embedding).not.toEqual(floats.data[1].embedding);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(texts.length);
  });
});

describe("the embedded model through the Python SDK", () => {
  it("gets an answer, a stream with usage, vectors, and OpenAI's errors", async () => {
    const out = await pythonCheck(s.baseUrl, "unused", EMBEDDED_MODEL_ID, EMBEDDED_MODEL_ID);
    expect(out.chat.text).toContain("Paris");
    expect(out.stream.text).toBe(out.chat.text);
    expect(out.stream.usage).toEqual(out.chat.usage);
    expect(out.embeddings.float.map((v) => v.length)).toEqual([EMBEDDING_LENGTH, EMBEDDING_LENGTH]);
    expect(out.embeddings.base64).toEqual(out.embeddings.float);
    // No keys configured: any key is accepted.
    expect(out.errors).toEqual({ n: { status: 400, param: "n", type: "invalid_request_error" }, model: { status: 404, code: "model_not_found" }, key: { status: 200 } });
  });
});
