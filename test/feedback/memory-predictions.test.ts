// The in-process prediction store in typed arrays, and its id index, against plain Maps.
import { describe, expect, it } from "vitest";
import { IdIndex } from "../../src/feedback/id-index.js";
import { MemoryPredictionStore } from "../../src/feedback/memory-predictions.js";
import type { PredictionRecord } from "../../src/feedback/predictions.js";

/** A small seeded PRNG (mulberry32), so a failure replays. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function record(k: number, n = (k % 7) + 1, model = "m", version = "1"): PredictionRecord {
  return {
    model,
    version,
    task: k % 2 === 0 ? "regression" : "classification",
    prediction: k / 8,
    idx: Int32Array.from({ length: n }, (_, j) => k + j),
    val: Float64Array.from({ length: n }, (_, j) => k * 0.5 - j),
  };
}

const plain = (r: PredictionRecord) => ({ ...r, idx: [...r.idx], val: [...r.val] });

describe("IdIndex", () => {
  it("finds what a Map finds through random inserts and deletes, in a table small enough to collide", () => {
    const SLOTS = 64;
    const ids = new Map<number, string>(); // slot -> id, the model
    const index = new IdIndex(SLOTS, (slot, id) => ids.get(slot) === id);
    const random = prng(7);
    for (let op = 0; op < 20_000; op++) {
      const slot = Math.floor(random() * SLOTS);
      if (ids.has(slot)) {
        index.delete(slot);
        ids.delete(slot);
      } else {
        const id = `id-${Math.floor(random() * 500)}`;
        if ([...ids.values()].includes(id)) continue;
        index.set(id, slot);
        ids.set(slot, id);
      }
      if (op % 200 === 0) {
        for (let n = 0; n < 500; n++) {
          const id = `id-${n}`;
          const expected = [...ids].find(([, v]) => v === id)?.[0] ?? -1;
          expect(index.get(id), id).toBe(expected);
        }
      }
    }
  });
});

describe("MemoryPredictionStore", () => {
  it("returns each record as it was put, however the caller reuses its vectors", async () => {
    const store = new MemoryPredictionStore(60_000, 100, () => 0);
    const scratch = record(3, 5, "model-a", "7");
    await store.put("p1", scratch);
    scratch.idx.fill(-1);
    scratch.val.fill(-1);
    const got = await store.claim("p1");
    expect(got.status).toBe("claimed");
    expect(plain((got as { record: PredictionRecord }).record)).toEqual(plain(record(3, 5, "model-a", "7")));
  });

  it("refuses an id it holds, claims once, and gives a claim back", async () => {
    let now = 0;
    const store = new MemoryPredictionStore(1000, 10, () => now);
    expect(await store.put("a", record(1))).toBe(true);
    expect(await store.put("a", record(2))).toBe(false);
    expect((await store.claim("a")).status).toBe("claimed");
    expect((await store.claim("a")).status).toBe("already-claimed");
    await store.unclaim("a");
    expect((await store.claim("a")).status).toBe("claimed");
    expect((await store.claim("b")).status).toBe("missing");
    now = 1000;
    expect((await store.claim("a")).status).toBe("missing");
    expect(await store.put("a", record(3))).toBe(true);
    expect(plain(((await store.claim("a")) as { record: PredictionRecord }).record)).toEqual(plain(record(3)));
  });

  it("agrees with a Map through 50,000 predictions at its bound, across slabs, versions and long vectors", async () => {
    const CAP = 1000;
    const store = new MemoryPredictionStore(60_000, CAP, () => 0);
    const expected = new Map<string, PredictionRecord>();
    const order: string[] = [];
    const random = prng(11);
    for (let k = 0; k < 50_000; k++) {
      // Every 500th vector is longer than a slab's sixteenth: a slab of its own.
      const n = k % 500 === 0 ? 9000 : Math.floor(random() * 40) + 1;
      const r = record(k, n, `model-${k % 3}`, String(Math.floor(k / 700)));
      const id = k % 5 === 0 ? `client:${k}.é` : crypto.randomUUID();
      expect(await store.put(id, r)).toBe(true);
      expected.set(id, r);
      order.push(id);
      if (order.length > CAP) expected.delete(order.shift()!);
      if (k % 997 === 0) {
        const sample = order[Math.floor(random() * order.length)]!;
        const got = await store.claim(sample);
        expect(got.status).toBe("claimed");
        expect(plain((got as { record: PredictionRecord }).record)).toEqual(plain(expected.get(sample)!));
        await store.unclaim(sample);
      }
    }
    expect(store.size).toBe(CAP);
    expect((await store.claim(order[0]!)).status).toBe("claimed");
    const gone = [...Array(50_000 - CAP).keys()].filter((k) => k % 5 === 0).slice(-3);
    for (const k of gone) expect((await store.claim(`client:${k}.é`)).status).toBe("missing");
    for (const id of order.slice(-20)) {
      const got = await store.claim(id);
      expect(plain((got as { record: PredictionRecord }).record)).toEqual(plain(expected.get(id)!));
    }
  });

  it("forgets a prediction left expired behind a later one when the clock went back", async () => {
    let now = 10_000;
    const store = new MemoryPredictionStore(1000, 10, () => now);
    await store.put("late", record(1));
    now = 5000; // the clock stepped back: this one expires before the one ahead of it
    await store.put("early", record(2));
    now = 6500;
    expect((await store.claim("early")).status).toBe("missing");
    expect(await store.put("early", record(3))).toBe(true);
    expect(store.size).toBe(2);
    expect(plain(((await store.claim("early")) as { record: PredictionRecord }).record)).toEqual(plain(record(3)));
    expect((await store.claim("late")).status).toBe("claimed");
  });
});
