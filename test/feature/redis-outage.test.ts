// Redis going away and coming back, with a redis-server of the test's own.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { TestServer } from "../support/server.js";
import { startTestServer } from "../support/server.js";
import { bool, i64, otherServicesIdle, rejection, T } from "./helpers.js";
import type { RedisProcess } from "../support/redis.js";
import { freePort, startRedis } from "../support/redis.js";

let redis: RedisProcess;
let server: TestServer;
let client: Client<typeof FeatureService>;

beforeAll(async () => {
  redis = await startRedis();
  server = await startTestServer({ ...otherServicesIdle, feature: { store: "redis", redis: { url: redis.url } } });
  client = createClient(FeatureService, server.grpc);
  await client.createFeatureSet({ featureSet: { name: "outage", features: [{ name: "n", type: T.INT64 }] } });
});

afterAll(async () => {
  await server?.close();
  await redis?.stop();
});

/** Retries a call until it succeeds (Redis coming back), failing after 15 s. */
async function eventually<R>(call: () => Promise<R>): Promise<R> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      expect(ConnectError.from(err).code).toBe(Code.Unavailable);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test("calls answer UNAVAILABLE, not a deadline, while Redis is down, and work again when it returns", async () => {
  await client.putFeatures({ featureSet: "outage", entityKey: "before", features: { n: i64(1) } });
  await redis.stop();

  // A generous deadline: the store must fail fast on its own, not wait for it.
  const opts = { timeoutMs: 10_000 };
  const get = await rejection(client.getFeatures({ featureSet: "outage", entityKey: "before" }, opts), Code.Unavailable);
  expect(get.rawMessage).toContain("feature store (redis) unavailable");
  await rejection(client.putFeatures({ featureSet: "outage", entityKey: "during", features: { n: i64(2) } }, opts), Code.Unavailable);
  await rejection(client.batchGetFeatures({ featureSet: "outage", entityKeys: ["a", "b"] }, opts), Code.Unavailable);
  await rejection(client.deleteFeatures({ featureSet: "outage", entityKeys: ["a"] }, opts), Code.Unavailable);
  // Calls that need no store keep working.
  await client.processFeatures({ featureSet: "outage", features: { n: i64(3) } });

  await redis.start();
  // The restarted Redis is empty (no persistence): the old value is gone, new writes work.
  await eventually(() => client.putFeatures({ featureSet: "outage", entityKey: "after", features: { n: i64(4) } }));
  const got = await client.getFeatures({ featureSet: "outage", entityKey: "after" });
  expect(got.features.n.kind).toEqual({ case: "int64Value", value: 4n });
  await rejection(client.getFeatures({ featureSet: "outage", entityKey: "before" }), Code.NotFound);
});

test("a server started while Redis is unreachable serves UNAVAILABLE, then recovers when Redis appears", async () => {
  const port = await freePort();
  const late = await startTestServer({ ...otherServicesIdle, feature: { store: "redis", redis: { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 200 } } });
  let lateRedis: RedisProcess | undefined;
  try {
    const c = createClient(FeatureService, late.grpc);
    await c.createFeatureSet({ featureSet: { name: "late", features: [{ name: "b", type: T.BOOL }] } });
    await rejection(c.getFeatures({ featureSet: "late", entityKey: "x" }, { timeoutMs: 10_000 }), Code.Unavailable);
    lateRedis = await startRedis([], port);
    await eventually(() => c.putFeatures({ featureSet: "late", entityKey: "x", features: { b: bool(true) } }));
    expect((await c.getFeatures({ featureSet: "late", entityKey: "x" })).features.b.kind).toEqual({ case: "boolValue", value: true });
  } finally {
    await late.close();
    await lateRedis?.stop();
  }
});

test("a Redis that stops answering gives UNAVAILABLE after the command timeout, and DEADLINE_EXCEEDED from the server at an earlier deadline", async () => {
  // A second server whose Redis commands may wait 30 s, but whose calls get a 200 ms deadline by default.
  const strict = await startTestServer({ ...otherServicesIdle, server: { defaultDeadlineMs: 200 }, feature: { store: "redis", redis: { url: redis.url, commandTimeoutMs: 30_000 } } });
  try {
    const patient = createClient(FeatureService, strict.grpc);
    await patient.createFeatureSet({ featureSet: { name: "paused", features: [{ name: "n", type: T.INT64 }] } });
    await client.putFeatures({ featureSet: "outage", entityKey: "p", features: { n: i64(1) } });
    const { execFileSync } = await import("node:child_process");
    // CLIENT PAUSE makes Redis hold every command of every client for the given milliseconds.
    execFileSync("redis-cli", ["-p", String(redis.port), "client", "pause", "4000", "ALL"]);
    // No deadline from the client: the server must end the call at its own deadline.
    await rejection(patient.getFeatures({ featureSet: "paused", entityKey: "p" }), Code.DeadlineExceeded);
    // A long client deadline: the store's 1 s command timeout ends the call first.
    await rejection(client.getFeatures({ featureSet: "outage", entityKey: "p" }, { timeoutMs: 10_000 }), Code.Unavailable);
    await eventually(() => client.getFeatures({ featureSet: "outage", entityKey: "p" }));
  } finally {
    await strict.close();
  }
});
