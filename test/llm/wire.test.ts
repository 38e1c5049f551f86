// The OpenAI, Anthropic and Cohere providers send what the official SDKs send: both talk to one fake and
// the requests that arrive are compared (method, path, headers, body byte for byte). Answers and
// errors read as the SDKs read them.
import Anthropic from "@anthropic-ai/sdk";
import { CohereClientV2, CohereError } from "cohere-ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnthropicProvider } from "../../src/llm/providers/anthropic.js";
import { CohereProvider } from "../../src/llm/providers/cohere.js";
import { OpenAIProvider, type OpenAIFlavour } from "../../src/llm/providers/openai.js";
import { ProviderError, type ProviderRequest } from "../../src/llm/providers/provider.js";
import type { Behaviour, FakeLlmServer, RecordedRequest } from "../support/fake-llm-http.js";
import { startFakeAnthropic } from "../support/fake-anthropic.js";
import { startFakeCohere } from "../support/fake-cohere.js";
import { startFakeOpenAI } from "../support/fake-openai.js";

let fake: FakeLlmServer;
let antFake: FakeLlmServer;
let coFake: FakeLlmServer;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  antFake = await startFakeAnthropic();
  coFake = await startFakeCohere();
});

afterAll(async () => {
  await fake?.close();
  await antFake?.close();
  await coFake?.close();
});

/** The SDK as the provider used it before it sent requests itself. */
function sdk(): OpenAI {
  return new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, organization: null, project: null, webhookSecret: null, maxRetries: 0, timeout: 120_000 });
}

function provider(flavour: OpenAIFlavour): OpenAIProvider {
  return new OpenAIProvider("p", { flavour, apiKey: fake.apiKey, baseUrl: fake.baseUrl, timeoutMs: 120_000 });
}

// Added by Node's fetch under the SDK, not by the SDK; hop-by-hop and framing headers differ by transport.
const TRANSPORT_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding", "accept-language", "sec-fetch-mode", "accept-encoding"]);

function wire(r: RecordedRequest) {
  const headers: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i].toLowerCase();
    if (!TRANSPORT_HEADERS.has(name)) headers.push(`${name}: ${r.rawHeaders[i + 1]}`);
  }
  return { method: r.method, url: r.url, headers, body: r.raw };
}

async function lastRequest(send: () => Promise<unknown>, on: FakeLlmServer = fake) {
  const before = on.requests.length;
  await send();
  expect(on.requests.length).toBe(before + 1);
  return wire(on.requests.at(-1)!);
}

const failed = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

const signal = new AbortController().signal;

const plain: ProviderRequest = { upstreamModel: "gpt-x", messages: [{ role: "user", content: "Say hello" }], params: { stop: [] }, signal };
const full: ProviderRequest = {
  upstreamModel: "gpt-x",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Say \"hello\" in ünïcode ✓" },
    { role: "assistant", content: "Hello" },
  ],
  params: { maxTokens: 64, temperature: 0.5, topP: 0.9, stop: ["\n", "END"], seed: 42 },
  signal,
};
const fullMessages = full.messages.map((m) => ({ role: m.role, content: m.content }));
const fullParams = { temperature: 0.5, top_p: 0.9, stop: ["\n", "END"], seed: 42 };

describe("OpenAI requests on the wire", () => {
  it("sends Generate as the SDK does", async () => {
    const ours = await lastRequest(() => provider("openai").generate(plain));
    const theirs = await lastRequest(() => sdk().chat.completions.create({ model: "gpt-x", messages: [{ role: "user", content: "Say hello" }], stream: false }));
    expect(ours).toEqual(theirs);
    expect(theirs.headers).toContain(`authorization: Bearer ${fake.apiKey}`);
  });

  it("sends every parameter as the SDK does, max_completion_tokens to OpenAI", async () => {
    const ours = await lastRequest(() => provider("openai").generate(full));
    const theirs = await lastRequest(() =>
      sdk().chat.completions.create({ model: "gpt-x", messages: fullMessages, max_completion_tokens: 64, ...fullParams, stream: false }),
    );
    expect(ours).toEqual(theirs);
  });

  it("sends max_tokens to OpenAI-compatible servers as the SDK does", async () => {
    const ours = await lastRequest(() => provider("openai-compatible").generate(full));
    const theirs = await lastRequest(() => sdk().chat.completions.create({ model: "gpt-x", messages: fullMessages, max_tokens: 64, ...fullParams, stream: false }));
    expect(ours).toEqual(theirs);
  });

  it("sends GenerateStream as the SDK does, asking for usage", async () => {
    const ours = await lastRequest(() => provider("huggingface").stream(full, () => {}));
    const theirs = await lastRequest(async () => {
      const stream = await sdk().chat.completions.create({
        model: "gpt-x",
        messages: fullMessages,
        max_tokens: 64,
        ...fullParams,
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _ of stream);
    });
    expect(ours).toEqual(theirs);
  });

  it("lists models as the SDK does", async () => {
    let ids: string[] = [];
    const ours = await lastRequest(async () => (ids = await provider("openai").listModels(signal)));
    const theirs = await lastRequest(async () => {
      for await (const _ of sdk().models.list());
    });
    expect(ours).toEqual(theirs);
    expect(ids).toEqual(fake.modelIds);
  });
});

describe("OpenAI answers", () => {
  it("reads a stream's deltas, finish reason and usage as the SDK does", async () => {
    const deltas = ["Hel", "lo", " wörld ✓", "\n\nend"];
    fake.enqueue({ kind: "answer", deltas, inputTokens: 5, outputTokens: 4 }, { kind: "answer", deltas, inputTokens: 5, outputTokens: 4 });
    const ours: string[] = [];
    const end = await provider("openai").stream(plain, (t) => ours.push(t));
    const theirs: string[] = [];
    let usage: unknown;
    const stream = await sdk().chat.completions.create({ model: "gpt-x", messages: [{ role: "user", content: "x" }], stream: true, stream_options: { include_usage: true } });
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) theirs.push(c.choices[0].delta.content);
      if (c.usage) usage = c.usage;
    }
    expect(ours).toEqual(theirs);
    expect(end).toEqual({ finishReason: "stop", usage: { inputTokens: 5, outputTokens: 4 } });
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4 });
  });

  it("ends a stream whose upstream sends an error event with that error, after the deltas before it, as the SDK does", async () => {
    const failing: Behaviour = { kind: "stream-error", deltas: ["partial"], message: "the model overloaded" };
    fake.enqueue(failing, failing);
    const ours: string[] = [];
    const err = await provider("openai").stream(plain, (t) => ours.push(t)).then(
      () => undefined,
      (e: unknown) => e,
    );
    const theirs: string[] = [];
    const sdkErr = await (async () => {
      const stream = await sdk().chat.completions.create({ model: "gpt-x", messages: [{ role: "user", content: "x" }], stream: true });
      for await (const c of stream) if (c.choices[0]?.delta?.content) theirs.push(c.choices[0].delta.content);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ours).toEqual(theirs);
    expect(sdkErr).toBeInstanceOf(OpenAI.APIError);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe("unavailable");
    expect((err as ProviderError).message).toBe(`provider 'p' is unreachable: ${(sdkErr as Error).message}`);
  });

  it.each([400, 404, 429, 500])("words an HTTP %i error as the SDK's APIError does", async (status) => {
    fake.enqueue({ kind: "error", status, message: "the fake refuses" }, { kind: "error", status, message: "the fake refuses" });
    const ours = await provider("openai").generate(plain).then(
      () => undefined,
      (err: unknown) => err,
    );
    const theirs = await sdk()
      .chat.completions.create({ model: "gpt-x", messages: [{ role: "user", content: "x" }] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(theirs).toBeInstanceOf(OpenAI.APIError);
    expect(ours).toBeInstanceOf(ProviderError);
    expect((ours as ProviderError).message).toBe(`provider 'p' answered HTTP ${status}: ${(theirs as Error).message}`);
  });
});

/** The SDK as the Anthropic provider used it before it sent requests itself. */
function antSdk(): Anthropic {
  return new Anthropic({ apiKey: antFake.apiKey, authToken: null, baseURL: antFake.baseUrl, maxRetries: 0, timeout: 120_000 });
}

function antProvider(): AnthropicProvider {
  return new AnthropicProvider("a", { apiKey: antFake.apiKey, baseUrl: antFake.baseUrl, timeoutMs: 120_000 });
}

const antMessages = [
  { role: "user" as const, content: "Say \"hello\" in ünïcode ✓" },
  { role: "assistant" as const, content: "Hello" },
];
const antParams = { temperature: 0.5, top_p: 0.9, stop_sequences: ["\n", "END"] } as Record<string, unknown>;

describe("Anthropic requests on the wire", () => {
  it("sends Generate as the SDK does, with its default max_tokens", async () => {
    const ours = await lastRequest(() => antProvider().generate(plain), antFake);
    const theirs = await lastRequest(() => antSdk().messages.create({ model: "gpt-x", max_tokens: 1024, messages: [{ role: "user", content: "Say hello" }], stream: false }), antFake);
    expect(ours).toEqual(theirs);
  });

  it("sends system messages as the system parameter and every parameter as the SDK does", async () => {
    const ours = await lastRequest(() => antProvider().generate(full), antFake);
    const theirs = await lastRequest(
      () => antSdk().messages.create({ model: "gpt-x", max_tokens: 64, messages: antMessages, system: "Be brief.", ...antParams, stream: false }),
      antFake,
    );
    expect(ours).toEqual(theirs);
  });

  it("sends GenerateStream as the SDK does", async () => {
    const ours = await lastRequest(() => antProvider().stream(full, () => {}), antFake);
    const theirs = await lastRequest(async () => {
      const stream = await antSdk().messages.create({ model: "gpt-x", max_tokens: 64, messages: antMessages, system: "Be brief.", ...antParams, stream: true });
      for await (const _ of stream);
    }, antFake);
    expect(ours).toEqual(theirs);
  });

  it("lists models as the SDK does", async () => {
    let ids: string[] = [];
    const ours = await lastRequest(async () => (ids = await antProvider().listModels(signal)), antFake);
    const theirs = await lastRequest(async () => {
      for await (const _ of antSdk().models.list());
    }, antFake);
    expect(ours).toEqual(theirs);
    expect(ids).toEqual(antFake.modelIds);
  });
});

describe("Anthropic answers", () => {
  it("reads a stream's deltas, stop reason and usage as the SDK does", async () => {
    const deltas = ["Hel", "lo", " wörld ✓"];
    const answer = { kind: "answer", deltas, inputTokens: 5, outputTokens: 3 } as const;
    antFake.enqueue(answer, answer);
    const ours: string[] = [];
    const end = await antProvider().stream(plain, (t) => ours.push(t));
    const theirs: string[] = [];
    const stream = await antSdk().messages.create({ model: "gpt-x", max_tokens: 10, messages: [{ role: "user", content: "x" }], stream: true });
    for await (const e of stream) if (e.type === "content_block_delta" && e.delta.type === "text_delta") theirs.push(e.delta.text);
    expect(ours).toEqual(theirs);
    expect(end).toEqual({ finishReason: "stop", usage: { inputTokens: 5, outputTokens: 3 } });
  });

  it("ends a stream whose upstream sends an error event with that error, as the SDK does", async () => {
    const failing: Behaviour = { kind: "stream-error", deltas: ["partial"], message: "the model overloaded" };
    antFake.enqueue(failing, failing);
    const ours: string[] = [];
    const err = await failed(antProvider().stream(plain, (t) => ours.push(t)));
    const sdkErr = await failed(
      (async () => {
        const stream = await antSdk().messages.create({ model: "gpt-x", max_tokens: 10, messages: [{ role: "user", content: "x" }], stream: true });
        for await (const _ of stream);
      })(),
    );
    expect(ours).toEqual(["partial"]);
    expect(sdkErr).toBeInstanceOf(Anthropic.APIError);
    expect((err as ProviderError).kind).toBe("unavailable");
    expect((err as ProviderError).message).toBe(`provider 'a' is unreachable: ${(sdkErr as Error).message}`);
  });

  it.each([400, 404, 429, 529])("words an HTTP %i error as the SDK's APIError does", async (status) => {
    const error: Behaviour = { kind: "error", status, message: "the fake refuses" };
    antFake.enqueue(error, error);
    const ours = await failed(antProvider().generate(plain));
    const theirs = await failed(antSdk().messages.create({ model: "gpt-x", max_tokens: 10, messages: [{ role: "user", content: "x" }] }));
    expect(theirs).toBeInstanceOf(Anthropic.APIError);
    expect((ours as ProviderError).message).toBe(`provider 'a' answered HTTP ${status}: ${(theirs as Error).message}`);
  });
});

/** The SDK as the Cohere provider used it before it sent requests itself. */
function coSdk(): CohereClientV2 {
  return new CohereClientV2({ token: coFake.apiKey, baseUrl: coFake.baseUrl, clientName: "openloop", maxRetries: 0, timeoutInSeconds: 120 });
}

const coOptions = { abortSignal: signal, maxRetries: 0, timeoutInSeconds: 120 };

function coProvider(): CohereProvider {
  return new CohereProvider("c", { apiKey: coFake.apiKey, baseUrl: coFake.baseUrl, timeoutMs: 120_000 });
}

const coFull = { model: "gpt-x", messages: fullMessages, maxTokens: 64, temperature: 0.5, p: 0.9, stopSequences: ["\n", "END"], seed: 42 };

describe("Cohere requests on the wire", () => {
  it("sends Generate as the SDK does", async () => {
    const ours = await lastRequest(() => coProvider().generate(plain), coFake);
    const theirs = await lastRequest(() => coSdk().chat({ model: "gpt-x", messages: [{ role: "user", content: "Say hello" }] }, coOptions), coFake);
    expect(ours).toEqual(theirs);
  });

  it("sends every parameter under Cohere's names as the SDK does", async () => {
    const ours = await lastRequest(() => coProvider().generate(full), coFake);
    const theirs = await lastRequest(() => coSdk().chat(coFull, coOptions), coFake);
    expect(ours).toEqual(theirs);
  });

  it("sends GenerateStream as the SDK does", async () => {
    const ours = await lastRequest(() => coProvider().stream(full, () => {}), coFake);
    const theirs = await lastRequest(async () => {
      for await (const _ of await coSdk().chatStream(coFull, coOptions));
    }, coFake);
    expect(ours).toEqual(theirs);
  });

  it("lists chat models as the SDK does", async () => {
    let ids: string[] = [];
    const ours = await lastRequest(async () => (ids = await coProvider().listModels(signal)), coFake);
    const theirs = await lastRequest(() => coSdk().models.list({ endpoint: "chat", pageSize: 1000 }, coOptions), coFake);
    expect(ours).toEqual(theirs);
    expect(ids).toEqual(coFake.modelIds);
  });
});

describe("Cohere answers", () => {
  it("reads a stream's deltas, finish reason and usage as the SDK does", async () => {
    const answer: Behaviour = { kind: "answer", deltas: ["Hel", "lo", " wörld ✓"], inputTokens: 5, outputTokens: 3 };
    coFake.enqueue(answer, answer);
    const ours: string[] = [];
    const end = await coProvider().stream(plain, (t) => ours.push(t));
    const theirs: string[] = [];
    for await (const e of await coSdk().chatStream({ model: "gpt-x", messages: [{ role: "user", content: "x" }] }, coOptions)) {
      if (e.type === "content-delta" && e.delta?.message?.content?.text) theirs.push(e.delta.message.content.text);
    }
    expect(ours).toEqual(theirs);
    expect(end).toEqual({ finishReason: "stop", usage: { inputTokens: 5, outputTokens: 3 } });
  });

  it.each([400, 429, 500])("words an HTTP %i error with the message of the SDK's error body", async (status) => {
    const error: Behaviour = { kind: "error", status, message: "the fake refuses" };
    coFake.enqueue(error, error);
    const ours = await failed(coProvider().generate(plain));
    const theirs = await failed(coSdk().chat({ model: "gpt-x", messages: [{ role: "user", content: "x" }] }, coOptions));
    expect(theirs).toBeInstanceOf(CohereError);
    expect((ours as ProviderError).message).toBe(`provider 'c' answered HTTP ${status}: ${((theirs as CohereError).body as { message: string }).message}`);
  });
});
