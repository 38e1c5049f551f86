// The embedded sample log: durable appends, replay after a restart, torn tails, commits.
import { appendFile, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsSampleBuffer } from "../../src/feedback/fs-buffer.js";
import { SparseVector } from "../../src/feedback/hashing.js";
import { SampleBlockBuilder } from "../../src/feedback/samples.js";

const log = pino({ level: "silent" });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-buffer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(labels: number[]): Buffer {
  const b = new SampleBlockBuilder();
  const v = new SparseVector();
  for (const y of labels) {
    v.nnz = 0;
    v.push(3, y * 2);
    v.push(16, 1);
    b.add(v, y);
  }
  return b.encode();
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
});
