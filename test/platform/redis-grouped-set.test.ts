// Group commit of SET PX NX (src/platform/redis-grouped-set.ts) on a private redis-server: the sets
// of one turn are one command, each keeps its own NX answer and expiry, a restarted Redis (its
// scripts forgotten) still takes them, and a silent Redis fails them all after the command timeout.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GroupedSetNx } from "../../src/platform/redis-grouped-set.js";
import { createRedisClient, redisReady } from "../../src/platform/redis.js";
import { startRedis, type RedisProcess } from "../support/redis.js";

const COMMAND_TIMEOUT_MS = 300;
let redis: RedisProcess;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient(redis.url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 2000 });
  admin = createRedisClient(redis.url, { commandTimeoutMs: 5000, connectTimeoutMs: 2000 });
  client.on("error", () => {});
  admin.on("error", () => {});
  expect(await Promise.all([redisReady(client, 5000), redisReady(admin, 5000)])).toEqual([true, true]);
});

afterAll(async () => {
  redis?.resume();
  client?.disconnect();
  admin?.disconnect();
  await redis?.stop();
});

/** How many times Redis ran `command` since its stats were last reset. */
async function calls(command: string): Promise<number> {
  const info = await admin.info("commandstats");
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

test("the sets of one turn are one command; each key gets its value, its expiry and its own NX answer", async () => {
  const sets = new GroupedSetNx(client, 60_000);
  await admin.set("g1:taken", "before");
  // A fresh Redis learns the script from the first group (NOSCRIPT, then EVAL): counted from the next.
  await sets.set("g1:warm-up", Buffer.from("w"));
  await admin.config("RESETSTAT");
  const values = Array.from({ length: 50 }, (_, i) => Buffer.from([i, 0, 255, 13, 10, i]));
  const answers = await Promise.all([
    ...values.map((v, i) => sets.set(`g1:k${i}`, v)),
    sets.set("g1:taken", Buffer.from("after")),
    sets.set("g1:k7", Buffer.from("second")),
    sets.setUnique("g1:unique", Buffer.from("u")),
  ]);
  expect(answers.slice(0, 50)).toEqual(values.map(() => true));
  expect(answers.slice(50, 52)).toEqual([false, false]);
  expect([await calls("evalsha"), await calls("eval")]).toEqual([1, 0]);
  expect(await calls("set")).toBe(53);
  for (let i = 0; i < 50; i++) expect(await admin.getBuffer(`g1:k${i}`)).toEqual(values[i]);
  expect(await admin.get("g1:taken")).toBe("before");
  expect(await admin.get("g1:unique")).toBe("u");
  const ttl = await admin.pttl("g1:k0");
  expect(ttl).toBeGreaterThan(50_000);
  expect(ttl).toBeLessThanOrEqual(60_000);
});

test("a turn with more sets than one group holds is split into several commands, all acknowledged", async () => {
  const sets = new GroupedSetNx(client, 60_000);
  await admin.config("RESETSTAT");
  const answers = await Promise.all(Array.from({ length: 1100 }, (_, i) => sets.set(`g2:k${i}`, Buffer.from(String(i)))));
  expect(answers.every((a) => a)).toBe(true);
  expect([await calls("evalsha"), await calls("eval")]).toEqual([3, 0]);
  expect(await admin.get("g2:k1099")).toBe("1099");
});

test("a Redis that forgot the script (restarted, or SCRIPT FLUSH) is sent the script itself", async () => {
  const sets = new GroupedSetNx(client, 60_000);
  expect(await sets.set("g3:a", Buffer.from("a"))).toBe(true);
  await admin.script("FLUSH");
  expect(await sets.set("g3:b", Buffer.from("b"))).toBe(true);
  expect(await admin.get("g3:b")).toBe("b");
  // Cached again: the next group needs one EVALSHA only.
  await admin.config("RESETSTAT");
  expect(await sets.set("g3:c", Buffer.from("c"))).toBe(true);
  expect([await calls("evalsha"), await calls("eval")]).toEqual([1, 0]);
});

test("while Redis is silent every set of the group fails after the command timeout, and later groups work again", async () => {
  const sets = new GroupedSetNx(client, 60_000);
  redis.pause();
  let outcomes: { ok: boolean; ms: number }[];
  try {
    const t0 = performance.now();
    outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        (i % 2 ? sets.setUnique(`g4:k${i}`, Buffer.from("x")) : sets.set(`g4:k${i}`, Buffer.from("x"))).then(
          () => ({ ok: true, ms: performance.now() - t0 }),
          () => ({ ok: false, ms: performance.now() - t0 }),
        ),
      ),
    );
  } finally {
    redis.resume();
  }
  for (const o of outcomes) {
    expect(o.ok).toBe(false);
    // Generous: one timeout on a loaded machine, not a second one or a retry.
    expect(o.ms).toBeLessThan(COMMAND_TIMEOUT_MS * 3);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await sets.set(`g4:after-${Date.now()}`, Buffer.from("y")).catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error("sets still fail 10 s after Redis resumed");
    await new Promise((r) => setTimeout(r, 100));
  }
});
