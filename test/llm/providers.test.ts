// Every provider kind through the real server, talking to fakes of each API (test/llm/wire.test.ts
// checks that the OpenAI and Anthropic providers send what the official SDKs send).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatMessageSchema, FinishReason, LLMService, ModelSource, Role } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { startFakeAnthropic } from "../support/fake-anthropic.js";
import { startFakeCohere } from "../support/fake-cohere.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { collect, failure, lockstep, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";

const kinds = ["openai", "anthropic", "cohere", "huggingface", "openai-compatible"] as const;
type Kind = (typeof kinds)[number];

const fakes = {} as Record<Kind, FakeLlmServer>;
let llm: LlmServer;

beforeAll(async () => {
  fakes.openai = await startFakeOpenAI();
  fakes.anthropic = await startFakeAnthropic();
  fakes.cohere = await startFakeCohere();
  fakes.huggingface = await startFakeOpenAI({ apiKey: "hf_fake0123456789" });
  fakes["openai-compatible"] = await startFakeOpenAI({ apiKey: "local-server-key" });
  llm = await startLlmServer({
    providers: Object.fromEntries(kinds.map((k) => [k, { kind: k, apiKey: fakes[k].apiKey, baseUrl: fakes[k].baseUrl }])),
    models: kinds.map((k) => ({ id: `${k}-chat`, provider: k, upstreamModel: `${k}-upstream-model` })),
  });
});

afterAll(async () => {
  await llm?.close();
  for (const f of Object.values(fakes)) await f?.close();
});

describe.each(kinds)("provider %s", (kind) => {
  it("answers Generate with the upstream text, finish reason and usage", async () => {
    fakes[kind].enqueue({ kind: "answer", deltas: ["Bonjour", " le monde"], inputTokens: 21, outputTokens: 7 });
    const res = await llm.client.generate(request(`${kind}-chat`));
    expect(res.text).toBe("Bonjour le monde");
    expect(res.finishReason).toBe(FinishReason.STOP);
    expect(res.usage).toMatchObject({ inputTokens: 21, outputTokens: 7 });
    expect(res).toMatchObject({ model: `${kind}-chat`, provider: kind, upstreamModel: `${kind}-upstream-model`, cached: false });
    expect(fakes[kind].chatRequests.at(-1)?.body.model).toBe(`${kind}-upstream-model`);
  });

  it("streams each upstream delta as it arrives, then one done message with usage", async () => {
    const step = lockstep();
    fakes[kind].enqueue({ kind: "answer", deltas: ["one", " two", " three"], inputTokens: 9, outputTokens: 3, deltaGate: step.deltaGate });
    const { deltas, done } = await step.collect(llm.client.generateStream(streamRequest(`${kind}-chat`)));
    expect(deltas).toEqual(["one", " two", " three"]);
    expect(done?.finishReason).toBe(FinishReason.STOP);
    expect(done?.usage).toMatchObject({ inputTokens: 9, outputTokens: 3 });
    expect(done).toMatchObject({ model: `${kind}-chat`, provider: kind, cached: false });
    expect(fakes[kind].chatRequests.at(-1)?.body.stream).toBe(true);
  });

  it("ends a stream that breaks mid-way with UNAVAILABLE after the deltas that arrived", async () => {
    fakes[kind].enqueue({ kind: "break", deltas: ["partial", " answer"] });
    const seen: string[] = [];
    const err = await failure(async () => {
      for await (const msg of llm.client.generateStream(streamRequest(`${kind}-chat`))) {
        if (msg.event.case === "textDelta") seen.push(msg.event.value);
        if (msg.event.case === "done") throw new Error("a broken stream must not end with a done message");
      }
    });
    expect(seen.join("")).toBe("partial answer");
    expect(ConnectError.from(err).code).toBe(Code.Unavailable);
  });
});

describe("protocols", () => {
  it.each(["connect", "grpcWeb"] as const)("streams over %s (HTTP/1.1) as over gRPC", async (protocol) => {
    const client = createClient(LLMService, llm.server[protocol]);
    fakes.openai.enqueue({ kind: "answer", deltas: ["web", " client"], inputTokens: 2, outputTokens: 2 });
    const { deltas, done } = await collect(client.generateStream(streamRequest("openai-chat")));
    expect(deltas.join("")).toBe("web client");
    expect(done?.usage).toMatchObject({ inputTokens: 2, outputTokens: 2 });
  });
});

describe("wire details", () => {
  it("asks OpenAI for usage in streams and sends the parameters", async () => {
    await collect(
      llm.client.generateStream(streamRequest("openai-chat", { maxTokens: 50, temperature: 0.2, topP: 0.9, stop: ["END"], seed: 7n })),
    );
    const body = fakes.openai.chatRequests.at(-1)!.body;
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body).toMatchObject({ max_completion_tokens: 50, temperature: 0.2, top_p: 0.9, stop: ["END"], seed: 7 });
  });

  it("sends system messages to Anthropic as the system parameter, with max_tokens and stop_sequences", async () => {
    await llm.client.generate(
      request("anthropic-chat", {
        prompt: "",
        messages: [
          create(ChatMessageSchema, { role: Role.SYSTEM, content: "Be brief." }),
          create(ChatMessageSchema, { role: Role.USER, content: "Hi" }),
        ],
        stop: ["\n\n"],
      }),
    );
    const req = fakes.anthropic.chatRequests.at(-1)!;
    expect(req.body).toMatchObject({ system: "Be brief.", messages: [{ role: "user", content: "Hi" }], max_tokens: 1024, stop_sequences: ["\n\n"] });
    expect(req.headers.authorization ?? `Bearer ${String(req.headers["x-api-key"])}`).toBe(`Bearer ${fakes.anthropic.apiKey}`);
    expect(req.headers["anthropic-version"]).toBeTruthy();
  });

  it("sends Cohere its own parameter names", async () => {
    await llm.client.generate(request("cohere-chat", { maxTokens: 30, topP: 0.5, stop: ["."], seed: 3n }));
    expect(fakes.cohere.chatRequests.at(-1)!.body).toMatchObject({ max_tokens: 30, p: 0.5, stop_sequences: ["."], seed: 3, stream: false });
  });

  it("sends max_tokens (not max_completion_tokens) to OpenAI-compatible servers", async () => {
    await llm.client.generate(request("huggingface-chat", { maxTokens: 11 }));
    expect(fakes.huggingface.chatRequests.at(-1)!.body).toMatchObject({ max_tokens: 11 });
    expect(fakes.huggingface.chatRequests.at(-1)!.body.max_completion_tokens).toBeUndefined();
  });
});

describe("ListModels", () => {
  it("lists catalog entries first, then the models providers list", async () => {
    const { models } = await llm.client.listModels({});
    const catalog = models.filter((m) => m.source === ModelSource.CATALOG).map((m) => m.id);
    expect(catalog).toEqual(kinds.map((k) => `${k}-chat`));
    expect(models.slice(0, kinds.length).every((m) => m.source === ModelSource.CATALOG)).toBe(true);
    const listed = models.filter((m) => m.source === ModelSource.PROVIDER).map((m) => m.id);
    expect(listed).toEqual(expect.arrayContaining(["openai/fake-model-a", "anthropic/fake-model-b", "cohere/fake-model-a", "huggingface/fake-model-a"]));
    expect(fakes.cohere.requests.find((r) => r.path === "/v1/models")).toBeDefined();
  });

  it("reuses a provider's model listing for a while instead of asking on every call", async () => {
    const listings = () => fakes.openai.requests.filter((r) => r.method === "GET" && r.path === "/v1/models").length;
    await llm.client.listModels({});
    const asked = listings();
    await llm.client.listModels({});
    await llm.client.listModels({ provider: "openai" });
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(listings()).toBe(asked);
  });

  it("still lists the catalog when a provider's listing fails", async () => {
    const broken = await startLlmServer({
      providers: { down: { kind: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1" } },
      models: [{ id: "still-listed", provider: "down" }],
    });
    try {
      const { models } = await broken.client.listModels({});
      expect(models.map((m) => m.id)).toEqual(["still-listed"]);
    } finally {
      await broken.close();
    }
  });

  it("filters by provider", async () => {
    const { models } = await llm.client.listModels({ provider: "anthropic" });
    expect(new Set(models.map((m) => m.provider))).toEqual(new Set(["anthropic"]));
  });

  it("serves a provider-listed model by its '<provider>/<model>' id", async () => {
    const res = await llm.client.generate(request("openai/fake-model-b"));
    expect(res).toMatchObject({ provider: "openai", upstreamModel: "fake-model-b" });
    expect(fakes.openai.chatRequests.at(-1)!.body.model).toBe("fake-model-b");
  });
});
