// Per-provider requests and tokens per minute hold across replicas through Redis (issue #14,
// item 5): three openloop processes on one Redis, a client spreading calls round-robin, and
// exactly the configured budget reaches the fake upstream; every other call is answered
// RESOURCE_EXHAUSTED with a RetryInfo detail.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { request, startLlmReplicas, stopLlmReplicas, type LlmReplica } from "./helpers.js";

const redisUrl = () => {
  const url = process.env.OPENLOOP_TEST_REDIS_URL;
  if (!url) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (test/support/global-setup.ts starts a Redis)");
  return url;
};

// "Say hello" is 9 characters: 3 tokens estimated. With max_tokens 50 a call reserves 53.
const PROMPT = "Say hello";
const MAX_TOKENS = 50;
const RESERVED = 3 + MAX_TOKENS;

describe("global LLM rate limits across three replicas", () => {
  const upstreams: Record<"rpm" | "tpm" | "corrected", FakeLlmServer> = {} as never;
  let replicas: LlmReplica[] = [];

  beforeAll(async () => {
    for (const name of ["rpm", "tpm", "corrected"] as const) upstreams[name] = await startFakeOpenAI();
    // Usage equal to the reservation: no correction, so which calls fit does not depend on their order.
    upstreams.tpm.fallback = { kind: "answer", inputTokens: 3, outputTokens: MAX_TOKENS };
    // Far less than reserved: the correction gives the rest back.
    upstreams.corrected.fallback = { kind: "answer", inputTokens: 3, outputTokens: 5 };
    const provider = (u: FakeLlmServer, limits: Record<string, number>) => ({ kind: "openai", apiKey: u.apiKey, baseUrl: u.baseUrl, ...limits });
    const config = {
      redis: { url: redisUrl() },
      llm: {
        providers: {
          rpm: provider(upstreams.rpm, { requestsPerMinute: 4 }),
          tpm: provider(upstreams.tpm, { tokensPerMinute: 4 * RESERVED }),
          corrected: provider(upstreams.corrected, { tokensPerMinute: 2 * RESERVED - 10 }),
        },
        models: [
          { id: "rpm-model", provider: "rpm", upstreamModel: "fake-model-a" },
          { id: "tpm-model", provider: "tpm", upstreamModel: "fake-model-a" },
          { id: "corrected-model", provider: "corrected", upstreamModel: "fake-model-a" },
        ],
        cache: { enabled: false },
        retry: { maxAttempts: 1 },
        // A key prefix of this test's own, so other tests on the run's Redis do not share the budgets.
        limits: { scope: "auto", redisKeyPrefix: `openloop:llm:limit:test-${randomUUID().slice(0, 8)}:` },
      },
    };
    replicas = await startLlmReplicas(config);
  }, 120_000);

  afterAll(async () => {
    await stopLlmReplicas(replicas);
    for (const u of Object.values(upstreams)) await u?.close();
  });

  /** `calls` Generates at once, spread round-robin: the refusals, after checking each is RESOURCE_EXHAUSTED with RetryInfo. */
  async function spread(model: string, calls: number): Promise<{ ok: number; refused: ConnectError[] }> {
    const outcomes = await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        replicas[i % 3]!.llm.generate(request(model, { prompt: `${PROMPT}`, maxTokens: MAX_TOKENS }), { timeoutMs: 30_000 }).then(
          () => undefined,
          (err: unknown) => ConnectError.from(err),
        ),
      ),
    );
    const refused = outcomes.filter((o): o is ConnectError => o !== undefined);
    for (const err of refused) {
      expect(err.code, err.message).toBe(Code.ResourceExhausted);
      const [info] = err.findDetails(RetryInfoSchema);
      expect(info?.retryDelay, "a RetryInfo detail").toBeDefined();
      expect(Number(info!.retryDelay!.seconds) * 1000 + info!.retryDelay!.nanos / 1e6).toBeGreaterThan(0);
    }
    return { ok: calls - refused.length, refused };
  }

  it("lets exactly requestsPerMinute calls reach the upstream, whichever replica they come through", async () => {
    const { ok, refused } = await spread("rpm-model", 12);
    expect(ok).toBe(4);
    expect(upstreams.rpm.chatRequests).toHaveLength(4);
    expect(refused).toHaveLength(8);
    expect(refused[0]!.rawMessage).toMatch(/^provider 'rpm' is over its 4 requests per minute; retry in \d+ ms$/);
  });

  it("lets exactly the calls whose reservations fit tokensPerMinute reach the upstream", async () => {
    const { ok, refused } = await spread("tpm-model", 12);
    expect(ok).toBe(4);
    expect(upstreams.tpm.chatRequests).toHaveLength(4);
    expect(refused[0]!.rawMessage).toMatch(new RegExp(`^provider 'tpm' is over its ${4 * RESERVED} tokens per minute \\(this call reserves ${RESERVED}\\)`));
  });

  it("gives back, on every replica, what a call reserved and did not use", async () => {
    // Two reservations do not fit; reserving and correcting to the 8 tokens used, six calls in a row do.
    for (let i = 0; i < 6; i++) {
      const answer = await replicas[i % 3]!.llm.generate(request("corrected-model", { prompt: PROMPT, maxTokens: MAX_TOKENS }));
      expect(answer.usage?.outputTokens).toBe(5);
    }
    expect(upstreams.corrected.chatRequests).toHaveLength(6);
  });
});
