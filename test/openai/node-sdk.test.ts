// The official Node `openai` SDK pointed at openloop's base URL, as an application would use it,
// with OpenAI and Cohere fakes upstream speaking their real wire formats.
import http2 from "node:http2";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeAnthropic } from "../support/fake-anthropic.js";
import { startFakeCohere } from "../support/fake-cohere.js";
import { fakeTokens, fakeVector, type FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { failure } from "../support/gates.js";
import { startTestServer, type TestServer } from "../support/server.js";

const KEY = "openai-api-test-key-0123456789";

let upstream: FakeLlmServer;
let cohere: FakeLlmServer;
let anthropic: FakeLlmServer;
let s: TestServer;
let client: OpenAI;

beforeAll(async () => {
  [upstream, cohere, anthropic] = await Promise.all([startFakeOpenAI(), startFakeCohere(), startFakeAnthropic()]);
  s = await startTestServer({
    server: { apiKeys: [KEY] },
    llm: {
      providers: {
        openai: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl },
        cohere: { kind: "cohere", apiKey: cohere.apiKey, baseUrl: cohere.baseUrl },
        anthropic: { kind: "anthropic", apiKey: anthropic.apiKey, baseUrl: anthropic.baseUrl },
      },
      models: [
        { id: "gpt-test", provider: "openai", upstreamModel: "gpt-upstream", aliases: ["fast"] },
        { id: "embed-test", provider: "openai", upstreamModel: "text-embedding-upstream" },
        { id: "cohere-embed", provider: "cohere", upstreamModel: "embed-v4.0" },
        { id: "claude-test", provider: "anthropic", upstreamModel: "claude-upstream" },
      ],
      retry: { maxAttempts: 1 },
      cache: { enabled: false },
    },
  });
  client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await s?.close();
  await Promise.all([upstream?.close(), cohere?.close(), anthropic?.close()]);
});

beforeEach(() => {
  upstream.reset();
  cohere.reset();
});

describe("chat completions through the Node SDK", () => {
  it("answers a conversation with text and content-part messages, passing every parameter upstream", async () => {
    const res = await client.chat.completions.create({
      model: "fast",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "Hello" }, { type: "text", text: "there" }] },
        { role: "assistant", content: "Hi." },
        { role: "user", content: "Again" },
      ],
      max_completion_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
      stop: ["END"],
      seed: 42,
      n: 1,
      user: "user-1",
    });
    expect(res.object).toBe("chat.completion");
    expect(res.model).toBe("gpt-test");
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0].message).toMatchObject({ role: "assistant", content: "Hello, world!" });
    expect(res.choices[0].finish_reason).toBe("stop");
    expect(res.usage).toEqual({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
    const sent = upstream.chatRequests[0].body;
    expect(sent).toMatchObject({
      model: "gpt-upstream",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hello\nthere" },
        { role: "assistant", content: "Hi." },
        { role: "user", content: "Again" },
      ],
      max_completion_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
      stop: ["END"],
      seed: 42,
    });
  });

  it("streams deltas as SSE, then the finish reason, then usage when include_usage is set", async () => {
    upstream.enqueue({ kind: "answer", deltas: ["One", " two", " three"], inputTokens: 9, outputTokens: 3 });
    const stream = await client.chat.completions.create({
      model: "gpt-test",
      messages: [{ role: "user", content: "Count" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      for (const c of chunk.choices) {
        text += c.delta.content ?? "";
        if (c.finish_reason) finishes.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("One two three");
    expect(finishes).toEqual(["stop"]);
    expect(usage).toEqual({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  });

  it("ends the raw stream with data: [DONE] and sends no usage event unless asked", async () => {
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], stream: true }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split("\n\n").filter(Boolean);
    expect(events.at(-1)).toBe("data: [DONE]");
    expect(events.some((e) => e.includes('"usage"'))).toBe(false);
  });

  it("answers the legacy completions endpoint with the prompt as the user's message", async () => {
    const res = await client.completions.create({ model: "gpt-test", prompt: "Once upon a time", max_tokens: 5 });
    expect(res.object).toBe("text_completion");
    expect(res.choices[0].text).toBe("Hello, world!");
    expect(upstream.chatRequests[0].body.messages).toEqual([{ role: "user", content: "Once upon a time" }]);
  });

  it("lists the catalog's models and retrieves one by id or alias", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(["gpt-test", "embed-test", "cohere-embed", "claude-test"]));
    expect(await client.models.retrieve("fast")).toMatchObject({ id: "fast", object: "model", owned_by: "openai" });
  });
});

describe("embeddings through the Node SDK", () => {
  it("returns float vectors in input order from an OpenAI-compatible provider", async () => {
    const texts = ["alpha beta", "gamma"];
    const res = await client.embeddings.create({ model: "embed-test", input: texts, encoding_format: "float" });
    expect(res.data.map((d) => d.embedding)).toEqual(texts.map((t) => fakeVector(t)));
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.usage).toEqual({ prompt_tokens: fakeTokens(texts), total_tokens: fakeTokens(texts) });
    expect(upstream.requests.at(-1)?.body).toMatchObject({ model: "text-embedding-upstream", input: texts });
  });

  it("returns the same vectors as base64, which the SDK asks for by default and decodes", async () => {
    const res = await client.embeddings.create({ model: "embed-test", input: "alpha beta" });
    expect(res.data[0].embedding).toEqual(fakeVector("alpha beta"));
    const raw = await fetch(`${s.baseUrl}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "embed-test", input: "alpha beta", encoding_format: "base64" }),
    });
    const body = (await raw.json()) as { data: Array<{ embedding: string }> };
    expect([...new Float32Array(new Uint8Array(Buffer.from(body.data[0].embedding, "base64")).buffer)]).toEqual(fakeVector("alpha beta"));
  });

  it("embeds through Cohere's embed API, with dimensions passed on", async () => {
    const res = await client.embeddings.create({ model: "cohere-embed", input: ["one", "two"], dimensions: 6, encoding_format: "float" });
    expect(res.data.map((d) => d.embedding)).toEqual([fakeVector("one", 6), fakeVector("two", 6)]);
    expect(cohere.requests.at(-1)?.body).toMatchObject({ texts: ["one", "two"], model: "embed-v4.0", output_dimension: 6, embedding_types: ["float"] });
  });
});

describe("errors in OpenAI's shape, as the SDK classifies them", () => {
  it("refuses n other than 1 with a 400 naming the field", async () => {
    const err = await failure(() => client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], n: 2 }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param: "n", type: "invalid_request_error" });
    expect(upstream.chatRequests).toHaveLength(0);
  });

  it("names the field of a value the gateway refuses", async () => {
    const err = await failure(() => client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], temperature: 3 }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, param: "temperature" });
  });

  it("answers an unknown model with 404 model_not_found", async () => {
    const err = await failure(() => client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "Hi" }] }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
  });

  it("answers a missing or wrong API key with 401", async () => {
    const wrong = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: "not-the-key", maxRetries: 0 });
    const err = await failure(() => wrong.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }] }));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: "invalid_api_key" });
    const embed = await failure(() => wrong.embeddings.create({ model: "embed-test", input: "x" }));
    expect(embed).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(upstream.requests).toHaveLength(0);
  });

  it("passes an upstream rate limit on as 429 with retry-after", async () => {
    upstream.enqueue({ kind: "error", status: 429, message: "slow down", headers: { "retry-after": "7" } });
    const err = await failure(() => client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }] }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")).toBe("7");
  });

  it("answers an unavailable upstream with 503, also once a stream has begun", async () => {
    upstream.enqueue({ kind: "error", status: 503, message: "overloaded" });
    const err = await failure(() => client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }] }));
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).toMatchObject({ status: 503, type: "server_error" });

    upstream.enqueue({ kind: "break", deltas: ["partial"] });
    const stream = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    const midway = await failure(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    });
    expect(text).toBe("partial");
    expect(midway).toBeInstanceOf(OpenAI.APIError);
    expect((midway as Error).message).toMatch(/provider 'openai' is unreachable/);
  });

  it("refuses embeddings from a model whose provider has none with a 400", async () => {
    const err = await failure(() => client.embeddings.create({ model: "claude-test", input: "x" }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/cannot embed/);
  });

  it("answers an unknown path with 404 in OpenAI's shape, and records the codes in the RPC metrics", async () => {
    const res = await fetch(`${s.baseUrl}/v1/no/such/thing`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Unknown request URL/);
    const metrics = await (await fetch(`${s.baseUrl}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
    expect(metrics).toMatch(/openloop_rpc_requests_total\{service="openloop.llm.v1.LLMService",method="Generate",code="INVALID_ARGUMENT"\} [1-9]/);
    expect(metrics).toMatch(/openloop_rpc_requests_total\{service="openloop.llm.v1.LLMService",method="Embed",code="OK"\} [1-9]/);
  });
});

describe("the connection", () => {
  it("serves the API over HTTP/2 (h2c) on the same port", async () => {
    const session = http2.connect(s.baseUrl);
    try {
      const req = session.request({
        ":method": "POST",
        ":path": "/v1/chat/completions",
        authorization: `Bearer ${KEY}`,
        "content-type": "application/json",
      });
      req.end(JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }] }));
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        let st = 0;
        let text = "";
        req.on("response", (h) => (st = Number(h[":status"])));
        req.on("data", (c: Buffer) => (text += c.toString()));
        req.on("end", () => resolve([st, text]));
        req.on("error", reject);
      });
      expect(status).toBe(200);
      expect((JSON.parse(body) as OpenAI.ChatCompletion).choices[0].message.content).toBe("Hello, world!");
    } finally {
      session.close();
    }
  });

  it("cancels the upstream call when the client stops reading a stream", async () => {
    upstream.enqueue({ kind: "answer", deltas: ["one", " two"], deltaGate: () => new Promise(() => {}) });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], stream: true }, { signal: controller.signal });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content === "one") break; // leaving the loop aborts the request
    }
    await upstream.until(() => upstream.clientAborts === 1);
    expect(upstream.clientAborts).toBe(1);
  });

  it("answers 504 when server.defaultDeadlineMs passes before upstream answers", async () => {
    const impatient = await startTestServer({
      server: { defaultDeadlineMs: 300 },
      llm: { providers: { openai: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } }, models: [{ id: "gpt-test", provider: "openai" }] },
    });
    try {
      upstream.fallback = { kind: "hang" };
      const sdk = new OpenAI({ baseURL: `${impatient.baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
      const err = await failure(() => sdk.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }] }));
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err).toMatchObject({ status: 504, code: "timeout", type: "server_error" });
      await upstream.until(() => upstream.clientAborts === 1);
    } finally {
      upstream.fallback = { kind: "answer" };
      await impatient.close();
    }
  });
});

describe("the response cache", () => {
  it("answers a repeated call from LLMService's cache; x-openloop-cache refresh and bypass go upstream", async () => {
    const cached = await startTestServer({
      llm: { providers: { openai: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } }, models: [{ id: "gpt-test", provider: "openai" }] },
    });
    try {
      const sdk = new OpenAI({ baseURL: `${cached.baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
      const ask = (mode?: string) =>
        sdk.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "cache me" }] }, mode ? { headers: { "x-openloop-cache": mode } } : {});
      expect((await ask()).choices[0].message.content).toBe("Hello, world!");
      await ask();
      expect(upstream.chatRequests).toHaveLength(1);
      await ask("refresh");
      await ask("bypass");
      expect(upstream.chatRequests).toHaveLength(3);
      const err = await failure(() => ask("sometimes"));
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    } finally {
      await cached.close();
    }
  });

  it("streams the legacy completions endpoint", async () => {
    const stream = await client.completions.create({ model: "gpt-test", prompt: "Once", stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello, world!");
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 4 });
  });
});
