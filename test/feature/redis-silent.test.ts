// A Redis that is connected but silent (frozen with SIGSTOP): every call fails with
// UNAVAILABLE after feature.redis.commandTimeoutMs, as the README promises, whether calls
// come one at a time or together, and the store works again once Redis answers.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { startRedis, type RedisProcess } from "../support/redis.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { i64, otherServicesIdle, T } from "./helpers.js";

const COMMAND_TIMEOUT_MS = 400;
// The promise is "after commandTimeoutMs"; the margin covers a loaded machine, not a second timeout.
const BOUND_MS = COMMAND_TIMEOUT_MS * 1.5;

let redis: RedisProcess;
let server: TestServer;
let client: Client<typeof FeatureService>;

beforeAll(async () => {
  redis = await startRedis();
  server = await startTestServer({ ...otherServicesIdle, feature: { store: "redis", redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS } } });
  client = createClient(FeatureService, server.grpc);
  await client.createFeatureSet({ featureSet: { name: "silent", features: [{ name: "n", type: T.INT64 }] } });
  await client.putFeatures({ featureSet: "silent", entityKey: "k", features: { n: i64(1) } });
});

afterAll(async () => {
  redis?.resume();
  await server?.close();
  await redis?.stop();
});

/** How a GetFeatures ends and how long it took, with a deadline far beyond the command timeout. */
async function timedGet(): Promise<{ code: Code | "OK"; ms: number }> {
  const started = performance.now();
  const code = await client.getFeatures({ featureSet: "silent", entityKey: "k" }, { timeoutMs: 10_000 }).then(
    () => "OK" as const,
    (e: unknown) => ConnectError.from(e).code,
  );
  return { code, ms: performance.now() - started };
}

test("calls fail with UNAVAILABLE within commandTimeoutMs while Redis is silent, one by one and five at once, then recover", async () => {
  redis.pause();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await timedGet();
      expect(r.code).toBe(Code.Unavailable);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    // Five calls in flight together, arriving a moment apart as separate clients' calls do.
    const together = await Promise.all(Array.from({ length: 5 }, (_, i) => new Promise((r) => setTimeout(r, i * 40)).then(timedGet)));
    for (const r of together) {
      expect(r.code).toBe(Code.Unavailable);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
  } finally {
    redis.resume();
  }
  const deadline = Date.now() + 10_000;
  let last = await timedGet();
  while (last.code !== "OK" && Date.now() < deadline) last = await timedGet();
  expect(last.code).toBe("OK");
});
