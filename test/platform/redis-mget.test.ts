// MGET written as one Buffer (src/platform/redis-mget.ts) on a private redis-server: the bytes are
// the very command ioredis would send, values come back in order with null for missing keys
// (binary values and non-ASCII keys included), and a silent Redis still fails it after the
// client's command timeout.
import type { Redis } from "ioredis";
import { Command } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { mgetBuffers, packMget } from "../../src/platform/redis-mget.js";
import { createRedisClient, redisReady } from "../../src/platform/redis.js";
import { startRedis, type RedisProcess } from "../support/redis.js";

const COMMAND_TIMEOUT_MS = 300;
let redis: RedisProcess;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient(redis.url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 2000 });
  client.on("error", () => {});
  expect(await redisReady(client, 5000)).toBe(true);
});

afterAll(async () => {
  redis?.resume();
  client?.disconnect();
  await redis?.stop();
});

test.each([
  ["one ASCII key", "p:{set}:1:", ["user-1"]],
  ["non-ASCII keys and prefix", "p:{sét}:1:", ["ünï", "✓✓", "日本語", "a"]],
  ["an empty key", "p:", [""]],
  ["lengths and counts of several digits", "x".repeat(120), Array.from({ length: 1234 }, (_, i) => `k${i}`.repeat(1 + (i % 9)))],
])("the packed command is byte for byte ioredis's own MGET: %s", (_name, prefix, keys) => {
  const ours = packMget(prefix, keys);
  const theirs = new Command("mget", keys.map((k) => prefix + k)).toWritable({});
  expect(ours.equals(Buffer.from(theirs as string))).toBe(true);
});

test("values come back in key order, binary as stored, null where Redis has none", async () => {
  const values = new Map<string, Buffer>([
    ["a", Buffer.from([0, 13, 10, 255, 36, 42])],
    ["ünï", Buffer.from("non-ASCII key")],
    ["big", Buffer.alloc(100_000, 7)],
  ]);
  for (const [k, v] of values) await client.set(`m:${k}`, v);
  const keys = ["missing", "a", "ünï", "also-missing", "big", "a"];
  const got = await mgetBuffers(client, "m:", keys);
  expect(got.map((v) => (v === null ? null : Buffer.from(v).toString("hex")))).toEqual(keys.map((k) => values.get(k)?.toString("hex") ?? null));
});

test("while Redis is silent the read fails after the command timeout, and works again after", async () => {
  await client.set("s:1", "one");
  redis.pause();
  try {
    const started = performance.now();
    await expect(mgetBuffers(client, "s:", ["1", "2"])).rejects.toThrow(/timed out/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
  } finally {
    redis.resume();
  }
  // The late reply to the timed-out command is not taken for the next one's.
  await expect.poll(async () => (await mgetBuffers(client, "s:", ["1", "2"])).map((v) => v?.toString() ?? null), { timeout: 5000 }).toEqual(["one", null]);
});
