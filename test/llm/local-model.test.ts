// The embedded SmolLM2-135M model served in-process by LLMService, over real gRPC.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatMessageSchema, FinishReason, Role, type GenerateResponse } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { EMBEDDED_MODEL_ID } from "../../src/llm/config.js";
import type { ChatMessage } from "../../src/llm/providers/provider.js";
import { collect, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";
import { CAPITAL, ReferenceTokenizer, STORY, ensureModel } from "./local-support.js";

const roles = { system: Role.SYSTEM, user: Role.USER, assistant: Role.ASSISTANT } as const;
const proto = (messages: ChatMessage[]) => messages.map((m) => create(ChatMessageSchema, { role: roles[m.role], content: m.content }));

let llm: LlmServer;
let tokenizer: ReferenceTokenizer;
/** The greedy answer to CAPITAL through Generate, which the other tests compare with. */
let whole: GenerateResponse;

beforeAll(async () => {
  ensureModel();
  tokenizer = await ReferenceTokenizer.load();
  // No llm section: the embedded default catalog.
  llm = await startLlmServer({});
  whole = await llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(CAPITAL), maxTokens: 24 }));
});

afterAll(async () => {
  await llm?.close();
  await tokenizer?.close();
});

/** A value of the server's Prometheus metrics. */
async function metric(name: string, provider: string): Promise<number> {
  const text = await (await fetch(`${llm.server.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{provider="${provider}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

describe("embedded local model over gRPC", () => {
  it("answers a real prompt with the tokenizer's count of the templated prompt and of the generated tokens", async () => {
    const res = whole;
    expect(res.text).toContain("Paris");
    expect(res.finishReason).toBe(FinishReason.STOP);
    expect(res.provider).toBe("local");
    expect(res.usage?.inputTokens).toBe(tokenizer.promptTokens(CAPITAL));
    // The answer's tokens plus the end-of-generation token the model sampled to stop.
    expect(res.usage?.outputTokens).toBe(tokenizer.textTokens(res.text) + 1);
  });

  it("streams the same answer as several deltas, then one done with finish reason and usage", async () => {
    const { deltas, done } = await collect(llm.client.generateStream(streamRequest(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(CAPITAL), maxTokens: 24 })));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join("")).toBe(whole.text);
    expect(done?.finishReason).toBe(FinishReason.STOP);
    expect(done?.usage?.inputTokens).toBe(tokenizer.promptTokens(CAPITAL));
    expect(done?.usage?.outputTokens).toBe(whole.usage?.outputTokens);
  });

  it("stops after max_tokens tokens with finish reason LENGTH", async () => {
    const res = await llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(CAPITAL), maxTokens: 3 }));
    expect(res.finishReason).toBe(FinishReason.LENGTH);
    expect(res.usage?.outputTokens).toBe(3);
    expect(tokenizer.textTokens(res.text)).toBe(3);
    expect(whole.text.startsWith(res.text)).toBe(true);
  });

  it("ends at a stop sequence with finish reason STOP, leaving the sequence out of the text", async () => {
    const cut = whole.text.indexOf("Paris");
    expect(cut).toBeGreaterThan(0);
    const res = await llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(CAPITAL), maxTokens: 24, stop: ["Paris"] }));
    expect(res.finishReason).toBe(FinishReason.STOP);
    expect(res.text).toBe(whole.text.slice(0, cut));
  });

  it("gives the same text for the same seed at temperature 1, and another text for another seed", async () => {
    const sampled = (seed: bigint) =>
      llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(STORY), maxTokens: 16, temperature: 1, seed }));
    const a = await sampled(7n);
    const b = await sampled(7n);
    const c = await sampled(8n);
    expect(a.usage?.outputTokens).toBe(16);
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
  });

  it("completes concurrent requests, each with its own answer", async () => {
    const questions = ["What is the capital of France?", "What is the capital of Italy?", "What is the capital of Spain?", "What is the capital of Germany?"];
    const ask = (q: string) =>
      llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto([CAPITAL[0], { role: "user", content: q }]), maxTokens: 12 }));
    const alone: string[] = [];
    for (const q of questions) alone.push((await ask(q)).text);
    const together = await Promise.all(questions.map(ask));
    expect(together.map((r) => r.text)).toEqual(alone);
    for (const r of together) expect(r.usage?.inputTokens).toBeGreaterThan(0);
  });

  it("stops generating at once when a stream is cancelled, and serves the next request", async () => {
    const before = await metric("openloop_llm_local_generated_tokens_total", "local");
    const abort = new AbortController();
    const stream = llm.client.generateStream(streamRequest(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(STORY), maxTokens: 1500 }), { signal: abort.signal });
    let deltas = 0;
    const err = await (async () => {
      try {
        for await (const msg of stream) {
          if (msg.event.case === "textDelta" && ++deltas === 3) abort.abort();
        }
      } catch (e) {
        return e;
      }
    })();
    expect(ConnectError.from(err).code).toBe(Code.Canceled);
    // The sequence is handed back only once llama.cpp has stopped generating on it.
    await until(async () => (await metric("openloop_llm_local_active_requests", "local")) === 0);
    const generated = (await metric("openloop_llm_local_generated_tokens_total", "local")) - before;
    expect(generated).toBeGreaterThanOrEqual(3);
    expect(generated).toBeLessThan(100);

    const next = await llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(CAPITAL), maxTokens: 24 }));
    expect(next.text).toContain("Paris");
  });

  it("answers DEADLINE_EXCEEDED at the deadline and stops generating", async () => {
    const err = await (async () => {
      try {
        await llm.client.generate(request(EMBEDDED_MODEL_ID, { prompt: "", messages: proto(STORY), maxTokens: 1500 }), { timeoutMs: 400 });
      } catch (e) {
        return e;
      }
    })();
    expect(ConnectError.from(err).code).toBe(Code.DeadlineExceeded);
    const atDeadline = await metric("openloop_llm_local_generated_tokens_total", "local");
    await until(async () => (await metric("openloop_llm_local_active_requests", "local")) === 0);
    // At most the token in flight when the signal fired, plus the end of generation counted on abort.
    expect((await metric("openloop_llm_local_generated_tokens_total", "local")) - atDeadline).toBeLessThan(5);
  });
});
