import { describe, expect, it } from "vitest";
import { VectorArena } from "../../src/feedback/vector-arena.js";

describe("VectorArena", () => {
  it("returns copies that later writes to the source or later copies do not change", () => {
    const arena = new VectorArena();
    const idx = new Int32Array([5, 9, 11, 0]);
    const val = new Float64Array([0.5, -1, 2.25, 99]);
    const first = arena.copy(idx, val, 3);
    idx.set([1, 2, 3]);
    val.set([7, 8, 9]);
    const second = arena.copy(idx, val, 3);
    expect([...first.idx]).toEqual([5, 9, 11]);
    expect([...first.val]).toEqual([0.5, -1, 2.25]);
    expect([...second.idx]).toEqual([1, 2, 3]);
    expect([...second.val]).toEqual([7, 8, 9]);
  });

  it("keeps copies intact across many buffers, and copies long vectors on their own", () => {
    const arena = new VectorArena();
    const kept: { idx: Int32Array; val: Float64Array; k: number }[] = [];
    for (let k = 0; k < 200_000; k++) {
      const n = (k % 7) + 1;
      const c = arena.copy(Int32Array.from({ length: n }, (_, j) => k + j), Float64Array.from({ length: n }, (_, j) => k * 0.5 + j), n);
      if (k % 997 === 0) kept.push({ ...c, k });
    }
    for (const { idx, val, k } of kept) {
      expect(idx[0]).toBe(k);
      expect(val[0]).toBe(k * 0.5);
      expect(idx.length).toBe((k % 7) + 1);
    }
    const long = arena.copy(new Int32Array(20_000).fill(3), new Float64Array(20_000).fill(1.5), 20_000);
    expect(long.idx.buffer.byteLength).toBe(20_000 * 4);
    expect(long.val[19_999]).toBe(1.5);
  });
});
