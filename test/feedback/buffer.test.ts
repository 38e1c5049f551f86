// The embedded sample log: durable appends, replay after a restart, torn tails, commits.
import { appendFile, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsSampleBuffer } from "../../src/feedback/fs-buffer.js";
import { SparseVector } from "../../src/feedback/hashing.js";
import { SampleBlockBuilder, type BatchTag } from "../../src/feedback/samples.js";

const log = pino({ level: "silent" });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-buffer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(labels: number[], batch?: BatchTag): Buffer {
  const b = new SampleBlockBuilder();
  const v = new SparseVector();
  for (const y of labels) {
    v.nnz = 0;
    v.push(3, y * 2);
    v.push(16, 1);
    b.add(v, y);
  }
  return b.encode(batch);
}

async function labelsOf(buf: FsSampleBuffer): Promise<number[]> {
  const taken = await buf.take(1e9);
  return taken ? taken.blocks.flatMap((b) => [...b.labels]) : [];
}

describe("the embedded sample log", () => {
  it("replays every appended sample after reopening", async () => {
    const a = await FsSampleBuffer.open(dir, 1 << 20, log);
    await Promise.all([a.append(record([1, 2, 3])), a.append(record([4])), a.append(record([5, 6]))]);
    expect(await a.buffered()).toBe(6);
    await a.close();
    const b = await FsSampleBuffer.open(dir, 1 << 20, log);
    expect(await b.buffered()).toBe(6);
    expect((await labelsOf(b)).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const taken = await b.take(10);
    expect(taken!.blocks[0]!.val[0]).toBe(taken!.blocks[0]!.labels[0]! * 2);
    await b.close();
  });

  it("cuts off a torn tail and keeps appending after it", async () => {
    const a = await FsSampleBuffer.open(dir, 1 << 20, log);
    await a.append(record([1, 2]));
    await a.close();
    const seg = path.join(dir, (await readdir(dir)).find((f) => f.startsWith("seg-"))!);
    const whole = record([9, 9, 9]);
    await appendFile(seg, whole.subarray(0, whole.length - 5));
    const b = await FsSampleBuffer.open(dir, 1 << 20, log);
    expect(await labelsOf(b)).toEqual([1, 2]);
    await b.append(record([3]));
    await b.close();
    const c = await FsSampleBuffer.open(dir, 1 << 20, log);
    expect(await labelsOf(c)).toEqual([1, 2, 3]);
    await c.close();
  });

  it("drops committed samples for good, also across segments", async () => {
    const a = await FsSampleBuffer.open(dir, 64, log); // tiny segments: a new file per batch
    for (let i = 0; i < 5; i++) await a.append(record([i]));
    const taken = await a.take(3);
    expect(taken!.count).toBe(3);
    await a.append(record([5]));
    await a.commit(taken!, { version: "2", samplesTrained: 3 });
    expect(await a.buffered()).toBe(3);
    await a.close();
    const b = await FsSampleBuffer.open(dir, 64, log);
    expect(await labelsOf(b)).toEqual([3, 4, 5]);
    expect(await b.state()).toEqual({ version: "2", samplesTrained: 3 });
    const segments = (await readdir(dir)).filter((f) => f.startsWith("seg-"));
    expect(segments.length).toBeLessThanOrEqual(4);
    await b.close();
  });

  it("keeps the samples of a training that never committed", async () => {
    const a = await FsSampleBuffer.open(dir, 1 << 20, log);
    await a.append(record([1, 2, 3]));
    const taken = await a.take(100);
    expect(taken!.count).toBe(3);
    await a.close();
    const b = await FsSampleBuffer.open(dir, 1 << 20, log);
    expect(await b.buffered()).toBe(3);
    expect((await stat(path.join(dir, "seg-000000000001.log"))).size).toBeGreaterThan(0);
    await b.close();
  });

  describe("batch ids", () => {
    const DAY = 24 * 60 * 60 * 1000;
    let clock = 1_000_000;
    const options = { batchIdTtlMs: DAY, now: () => clock };
    const tag = (id: string): BatchTag => ({ id, time: clock });
    const append = (b: FsSampleBuffer, labels: number[], id: string) => b.append(record(labels, tag(id)), labels.length, tag(id));

    it("appends a batch id once, and remembers it across a reopen while its samples are buffered", async () => {
      const a = await FsSampleBuffer.open(dir, 1 << 20, log, options);
      expect(await Promise.all([append(a, [1, 2], "x"), append(a, [1, 2], "x")])).toEqual([true, false]);
      await a.close();
      const b = await FsSampleBuffer.open(dir, 1 << 20, log, options);
      expect(await append(b, [1, 2], "x")).toBe(false);
      expect(await append(b, [3], "y")).toBe(true);
      expect(await labelsOf(b)).toEqual([1, 2, 3]);
      await b.close();
    });

    it("remembers the batch ids of committed samples across a reopen, until the TTL passes", async () => {
      const a = await FsSampleBuffer.open(dir, 64, log, options); // tiny segments: committed ones are deleted
      await append(a, [1], "c-1");
      await append(a, [2], "c-2");
      const taken = await a.take(100);
      await append(a, [3], "c-3");
      await a.commit(taken!, { version: "2", samplesTrained: 2 });
      expect(await append(a, [1], "c-1")).toBe(false);
      await a.close();
      const b = await FsSampleBuffer.open(dir, 64, log, options);
      expect(await labelsOf(b)).toEqual([3]);
      for (const id of ["c-1", "c-2", "c-3"]) expect(await append(b, [9], id), id).toBe(false);
      await b.close();
      clock += DAY;
      const c = await FsSampleBuffer.open(dir, 64, log, options);
      expect(await append(c, [1], "c-1")).toBe(true);
      expect(await labelsOf(c)).toEqual([3, 1]);
      await c.close();
    });
  });
});
