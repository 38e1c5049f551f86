// The embedded store alone: LRU bound and exact expiry, with a controlled clock.
import { expect, test } from "vitest";
import { MemoryFeatureStore } from "../../src/feature/memory-store.js";
import { encodeStored } from "../../src/feature/proto.js";

const set = { name: "s", generation: "g1" };
const f = (n: number): Uint8Array => encodeStored(new Map([["n", { type: "int64", value: BigInt(n) }]]));

test("holds at most maxEntries entities, evicting the least recently used", async () => {
  const store = new MemoryFeatureStore({ maxEntries: 3, maxBytes: 1e9 });
  await store.put(set, "a", f(1), 0);
  await store.put(set, "b", f(2), 0);
  await store.put(set, "c", f(3), 0);
  await store.get(set, "a");
  await store.put(set, "d", f(4), 0);
  expect(store.size).toBe(3);
  expect(await store.get(set, "b")).toBeUndefined();
  expect(await store.getMany(set, ["a", "c", "d"])).toEqual([f(1), f(3), f(4)]);
});

test("an entity reads as missing from the millisecond it expires", async () => {
  let now = 1_000;
  const store = new MemoryFeatureStore({ maxEntries: 10, maxBytes: 1e9 }, () => now);
  await store.put(set, "a", f(1), 500);
  now = 1_499;
  expect(await store.get(set, "a")).toEqual(f(1));
  now = 1_500;
  expect(await store.get(set, "a")).toBeUndefined();
  expect(await store.delete(set, ["a"])).toBe(0);
});

test("a TTL of zero never expires", async () => {
  let now = 0;
  const store = new MemoryFeatureStore({ maxEntries: 10, maxBytes: 1e9 }, () => now);
  await store.put(set, "a", f(1), 0);
  now = Number.MAX_SAFE_INTEGER;
  expect(await store.get(set, "a")).toEqual(f(1));
});

test("dropping a set removes only that set's generation", async () => {
  const store = new MemoryFeatureStore({ maxEntries: 10, maxBytes: 1e9 });
  const other = { name: "s", generation: "g2" };
  await store.put(set, "a", f(1), 0);
  await store.put(other, "a", f(2), 0);
  await store.dropSet(set);
  expect(await store.get(set, "a")).toBeUndefined();
  expect(await store.get(other, "a")).toEqual(f(2));
});

test("holds at most about maxBytes of values, evicting the least recently used", async () => {
  const store = new MemoryFeatureStore({ maxEntries: 1000, maxBytes: 100_000 });
  const big = encodeStored(new Map([["v", { type: "double_list", value: new Array(2000).fill(0.5) }]]));
  for (let i = 0; i < 20; i++) await store.put(set, `k${i}`, big, 0);
  expect(store.byteSize).toBeLessThanOrEqual(100_000);
  expect(store.size).toBeGreaterThan(0);
  expect(store.size).toBeLessThan(20);
  expect(await store.get(set, "k19")).toBe(big);
  expect(await store.get(set, "k0")).toBeUndefined();
});

test("replacing and deleting entities gives their bytes back", async () => {
  const store = new MemoryFeatureStore({ maxEntries: 10, maxBytes: 1e9 });
  await store.put(set, "a", f(1), 0);
  const one = store.byteSize;
  await store.put(set, "a", f(2), 0);
  expect(store.byteSize).toBe(one);
  await store.delete(set, ["a"]);
  expect(store.byteSize).toBe(0);
});
