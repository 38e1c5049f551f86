// LlamaCppProvider in-process, and the small building blocks it stands on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeasePool, PoolClosedError, QueueFullError } from "../../src/llm/local/lease-pool.js";
import { LlamaCppProvider } from "../../src/llm/providers/local-llama.js";
import { ProviderError, type ChatMessage, type ProviderRequest } from "../../src/llm/providers/provider.js";
import { CAPITAL, STORY, ensureModel } from "./local-support.js";

function req(messages: ChatMessage[], params: Partial<ProviderRequest["params"]> = {}, signal = new AbortController().signal): ProviderRequest {
  return { upstreamModel: "smollm2", messages, params: { stop: [], ...params }, signal };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Resolves once the stream has produced its first delta; the rest keeps flowing into `deltas`. */
function startStream(provider: LlamaCppProvider, request: ProviderRequest) {
  const deltas: string[] = [];
  let firstDelta!: () => void;
  const started = new Promise<void>((r) => (firstDelta = r));
  const finished = provider.stream(request, (text) => {
    deltas.push(text);
    firstDelta();
  });
  finished.catch(() => firstDelta());
  return { deltas, started, finished };
}

describe("LeasePool", () => {
  it("hands freed items to waiting requests in arrival order", async () => {
    const pool = new LeasePool(["a"], 10);
    const first = await pool.acquire();
    const order: number[] = [];
    const waiting = [1, 2, 3].map((i) => pool.acquire().then((item) => (order.push(i), pool.release(item))));
    pool.release(first);
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
  });

  it("refuses a request when maxQueued requests already wait", async () => {
    const pool = new LeasePool(["a"], 1);
    await pool.acquire();
    void pool.acquire();
    expect(await rejection(pool.acquire())).toBeInstanceOf(QueueFullError);
  });

  it("gives up the place of a waiting request whose signal aborts", async () => {
    const pool = new LeasePool(["a"], 5);
    const item = await pool.acquire();
    const abort = new AbortController();
    const cancelled = pool.acquire(abort.signal);
    const next = pool.acquire();
    abort.abort(new Error("gone"));
    expect(((await rejection(cancelled)) as Error).message).toBe("gone");
    expect(pool.queued).toBe(1);
    pool.release(item);
    expect(await next).toBe("a");
  });

  it("rejects waiting and later requests once closed", async () => {
    const pool = new LeasePool(["a"], 5);
    await pool.acquire();
    const waiting = pool.acquire();
    pool.close();
    expect(await rejection(waiting)).toBeInstanceOf(PoolClosedError);
    expect(await rejection(pool.acquire())).toBeInstanceOf(PoolClosedError);
  });
});

describe("LlamaCppProvider", () => {
  let provider: LlamaCppProvider;

  beforeAll(async () => {
    provider = new LlamaCppProvider({ name: "local", modelPath: ensureModel(), sequences: 1, maxQueued: 1, contextSize: 1024 });
    await provider.init();
  });

  afterAll(async () => {
    await provider?.close();
  });

  it("queues a request while its one sequence is busy and refuses one more with rate_limited", async () => {
    const first = startStream(provider, req(STORY, { maxTokens: 24 }));
    await first.started;
    const second = provider.generate(req(CAPITAL, { maxTokens: 24 }));
    expect(provider.stats()).toEqual({ active: 1, queued: 1 });
    const third = await rejection(provider.generate(req(CAPITAL, { maxTokens: 4 })));
    expect(third).toBeInstanceOf(ProviderError);
    expect((third as ProviderError).kind).toBe("rate_limited");
    expect(await first.finished).toMatchObject({ finishReason: "length", usage: { outputTokens: 24 } });
    expect((await second).text).toContain("Paris");
  });

  it("drops a queued request whose signal aborts, without running it", async () => {
    const first = startStream(provider, req(STORY, { maxTokens: 16 }));
    await first.started;
    const abort = new AbortController();
    const queued = provider.generate(req(CAPITAL, { maxTokens: 8 }, abort.signal));
    abort.abort();
    const err = await rejection(queued);
    expect((err as ProviderError).kind).toBe("cancelled");
    expect(provider.stats().queued).toBe(0);
    await first.finished;
  });

  it("stops generating and frees the sequence when the caller aborts a stream", async () => {
    const abort = new AbortController();
    let deltas = 0;
    await rejection(
      provider.stream(req(STORY, { maxTokens: 500 }, abort.signal), () => {
        if (++deltas === 2) abort.abort();
      }),
    );
    expect(provider.stats()).toEqual({ active: 0, queued: 0 });
    expect((await provider.generate(req(CAPITAL, { maxTokens: 24 }))).text).toContain("Paris");
  });

  it("ends a cancelled stream with a cancelled error after the tokens generated so far", async () => {
    const abort = new AbortController();
    const deltas: string[] = [];
    const err = await rejection(
      provider.stream(req(STORY, { maxTokens: 500 }, abort.signal), (text) => {
        deltas.push(text);
        if (deltas.length === 2) abort.abort();
      }),
    );
    expect((err as ProviderError).kind).toBe("cancelled");
    expect(deltas.length).toBeLessThan(50);
  });

  it("samples different texts for unseeded requests at temperature 1, even within the same second", async () => {
    const sample = () => provider.generate(req(STORY, { maxTokens: 12, temperature: 1 }));
    const first = await sample();
    const second = await sample();
    expect(second.text).not.toBe(first.text);
  });

  it("continues an assistant message given last", async () => {
    const res = await provider.generate(req([...CAPITAL, { role: "assistant", content: "The capital of France is" }], { maxTokens: 8 }));
    expect(res.text.trimStart().startsWith("Paris")).toBe(true);
  });

  it("refuses a prompt longer than its context with bad_request", async () => {
    const long = "bread ".repeat(3000);
    const err = await rejection(provider.generate(req([{ role: "user", content: long }], { maxTokens: 4 })));
    expect((err as ProviderError).kind).toBe("bad_request");
    expect((err as ProviderError).message).toMatch(/holds \d+ tokens of context/);
  });

  it("counts the same prompt tokens it reports as input usage", async () => {
    const res = await provider.generate(req(CAPITAL, { maxTokens: 2 }));
    expect(res.usage.inputTokens).toBe(await provider.countPromptTokens(CAPITAL));
  });
});

describe("LlamaCppProvider lifecycle", () => {
  it("fails with unavailable, pointing at the fetch script, when the model file is missing", async () => {
    const p = new LlamaCppProvider({ name: "local", modelPath: "models/does-not-exist.gguf" });
    const err = await rejection(p.generate(req(CAPITAL)));
    expect((err as ProviderError).kind).toBe("unavailable");
    expect((err as ProviderError).message).toContain("scripts/fetch-model.sh");
  });

  it("rejects queued and later requests with unavailable after close()", async () => {
    const p = new LlamaCppProvider({ name: "local", modelPath: ensureModel(), sequences: 1, contextSize: 512 });
    const running = startStream(p, req(STORY, { maxTokens: 400 }));
    await running.started;
    const queued = rejection(p.generate(req(CAPITAL, { maxTokens: 4 })));
    const streamed = rejection(running.finished);
    await p.close();
    expect(((await streamed) as ProviderError).kind).toBe("unavailable");
    expect(((await queued) as ProviderError).kind).toBe("unavailable");
    expect(((await rejection(p.generate(req(CAPITAL)))) as ProviderError).kind).toBe("unavailable");
  });
});
