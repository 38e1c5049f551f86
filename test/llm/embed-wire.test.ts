// The OpenAI and Cohere providers' embedding requests are those the official SDKs send: both
// talk to one fake and the requests that arrive are compared (method, path, headers, body byte
// for byte), and the vectors read back are the SDKs'.
import { CohereClientV2 } from "cohere-ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CohereProvider } from "../../src/llm/providers/cohere.js";
import { OpenAIProvider } from "../../src/llm/providers/openai.js";
import type { FakeLlmServer, RecordedRequest } from "../support/fake-llm-http.js";
import { startFakeCohere } from "../support/fake-cohere.js";
import { startFakeOpenAI } from "../support/fake-openai.js";

let openai: FakeLlmServer;
let cohere: FakeLlmServer;

beforeAll(async () => {
  [openai, cohere] = await Promise.all([startFakeOpenAI(), startFakeCohere()]);
});
afterAll(async () => {
  await Promise.all([openai?.close(), cohere?.close()]);
});

// Added by Node's fetch under the SDKs; hop-by-hop and framing headers differ by transport.
const TRANSPORT_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding", "accept-language", "sec-fetch-mode", "accept-encoding"]);

function wire(r: RecordedRequest) {
  const headers: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i].toLowerCase();
    if (!TRANSPORT_HEADERS.has(name)) headers.push(`${name}: ${r.rawHeaders[i + 1]}`);
  }
  return { method: r.method, url: r.url, headers, body: r.raw };
}

/** Runs `send`, returning its result and the one request it made. */
async function sent<T>(on: FakeLlmServer, send: () => Promise<T>) {
  const before = on.requests.length;
  const result = await send();
  expect(on.requests.length).toBe(before + 1);
  return { result, request: wire(on.requests.at(-1)!) };
}

const signal = new AbortController().signal;
const texts = ["Say hello", "in ünïcode ✓"];

describe("embedding requests on the wire", () => {
  it("sends OpenAI embeddings as the SDK does by default (base64), and decodes the same vectors", async () => {
    const sdk = new OpenAI({ apiKey: openai.apiKey, baseURL: openai.baseUrl, organization: null, project: null, webhookSecret: null, maxRetries: 0, timeout: 120_000 });
    const provider = new OpenAIProvider("p", { flavour: "openai", apiKey: openai.apiKey, baseUrl: openai.baseUrl, timeoutMs: 120_000 });
    const ours = await sent(openai, () => provider.embed({ upstreamModel: "text-embedding-3-small", inputs: texts, dimensions: 8, signal }));
    const theirs = await sent(openai, () => sdk.embeddings.create({ model: "text-embedding-3-small", input: texts, dimensions: 8 }));
    expect(ours.request).toEqual(theirs.request);
    expect(ours.result.vectors).toEqual(theirs.result.data.map((d) => d.embedding));
    expect(ours.result.inputTokens).toBe(theirs.result.usage.prompt_tokens);
  });

  it("sends Cohere embeddings as the SDK does, and reads the same vectors", async () => {
    const sdk = new CohereClientV2({ token: cohere.apiKey, baseUrl: cohere.baseUrl, clientName: "openloop", maxRetries: 0, timeoutInSeconds: 120 });
    const provider = new CohereProvider("c", { apiKey: cohere.apiKey, baseUrl: cohere.baseUrl, timeoutMs: 120_000 });
    const ours = await sent(cohere, () => provider.embed({ upstreamModel: "embed-v4.0", inputs: texts, dimensions: 256, signal }));
    const theirs = await sent(cohere, () =>
      sdk.embed({ texts, model: "embed-v4.0", inputType: "search_document", embeddingTypes: ["float"], outputDimension: 256 }),
    );
    expect(ours.request).toEqual(theirs.request);
    expect(ours.result.vectors).toEqual(theirs.result.embeddings.float);
  });
});
