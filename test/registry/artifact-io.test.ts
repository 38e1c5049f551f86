// Artifact bytes to and from files: batched writes with backpressure, pooled reads with headroom.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArtifactFileWriter, freeOnceCopied, readChunks } from "../../src/registry/artifact-io.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-artifact-io-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("ArtifactFileWriter", () => {
  it("writes many small chunks in order, with their size and SHA-256", async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const file = path.join(dir, "a.bin");
    const fh = await open(file, "wx");
    const writer = new ArtifactFileWriter(fh, 256 * 1024);
    for (let at = 0; at < body.length; ) {
      const n = Math.min(body.length - at, 1 + ((at * 7919) % 40_000));
      await writer.write(body.subarray(at, at + n));
      at += n;
    }
    expect(await writer.finish()).toEqual({ sizeBytes: body.length, sha256: sha256(body) });
    await fh.close();
    expect((await readFile(file)).equals(body)).toBe(true);
  });

  it("makes the caller wait once more than the high-water mark is queued", async () => {
    const MiB = 1024 * 1024;
    const fh = await open(path.join(dir, "b.bin"), "wx");
    const writer = new ArtifactFileWriter(fh, MiB);
    // 1 KiB fits the buffer being filled; 3 MiB fills three buffers, over the 1 MiB mark: that
    // write resolves only once the disk has taken some of them.
    let small = false;
    void writer.write(Buffer.alloc(1024)).then(() => (small = true));
    let large = false;
    const third = writer.write(Buffer.alloc(3 * MiB)).then(() => (large = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect([small, large]).toEqual([true, false]);
    await third;
    await writer.finish();
    await fh.close();
    expect((await readFile(path.join(dir, "b.bin"))).length).toBe(1024 + 3 * MiB);
  });

  it("writes the page cache back as it goes in buffered mode (every writeBackBytes), not only at the end", async () => {
    const MiB = 1024 * 1024;
    const body = randomBytes(9 * MiB + 5);
    for (const direct of [false, true]) {
      const file = path.join(dir, `wb-${direct}.bin`);
      const fh = await open(file, "wx");
      // The bytes the writer had accepted at each fdatasync it asked for.
      const syncedAt: number[] = [];
      let writer: ArtifactFileWriter | undefined;
      const counted = new Proxy(fh, {
        get(target, key) {
          if (key === "datasync") return () => (syncedAt.push(writer!.size), target.datasync());
          const value = Reflect.get(target, key) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      // Direct mode takes no write-backs: it is only a flag here (the file is not opened with O_DIRECT).
      writer = new ArtifactFileWriter(counted, 2 * MiB, direct, 3 * MiB);
      for (let at = 0; at < body.length; at += 256 * 1024) await writer.write(body.subarray(at, at + 256 * 1024));
      expect(await writer.finish()).toEqual({ sizeBytes: body.length, sha256: sha256(body) });
      await fh.close();
      expect((await readFile(file)).subarray(0, body.length).equals(body)).toBe(true);
      if (direct) expect(syncedAt).toEqual([body.length]);
      else {
        // At least one write-back ran while the bytes were still arriving, and the last at the end.
        expect(syncedAt.length).toBeGreaterThanOrEqual(2);
        expect(syncedAt[0]).toBeLessThan(body.length);
        expect(syncedAt.at(-1)).toBe(body.length);
      }
    }
  });

  it("reports a failed write to the next write or to finish", async () => {
    const file = path.join(dir, "c.bin");
    await writeFile(file, "");
    const fh = await open(file, "r"); // not writable: writev fails with EBADF
    const writer = new ArtifactFileWriter(fh, 1024 * 1024);
    await writer.write(Buffer.from("bytes"));
    await expect(writer.finish()).rejects.toMatchObject({ code: "EBADF" });
    await expect(writer.write(Buffer.from("more"))).rejects.toMatchObject({ code: "EBADF" });
    await fh.close();
  });

  it("frees the buffer of a chunk marked freeOnceCopied once it is copied, and only such buffers", async () => {
    const MiB = 1024 * 1024;
    // As grpc-js hands a message over: a buffer of its own, the chunk behind a few bytes of framing.
    const owned = Buffer.concat([Buffer.alloc(11), randomBytes(MiB)]).subarray(11);
    // A chunk that shares its buffer with other bytes (two messages sliced from one read).
    const sharedBuffer = randomBytes(2 * MiB);
    const shared = sharedBuffer.subarray(0, MiB);
    const unmarked = Buffer.concat([Buffer.alloc(11), randomBytes(MiB)]).subarray(11);
    const small = Buffer.concat([Buffer.alloc(11), randomBytes(1000)]).subarray(11);
    const expected = Buffer.concat([owned, shared, unmarked, small]);
    for (const c of [owned, shared, small]) freeOnceCopied(c);

    const file = path.join(dir, "d.bin");
    const fh = await open(file, "wx");
    const writer = new ArtifactFileWriter(fh, 4 * MiB);
    for (const c of [owned, shared, unmarked, small]) await writer.write(c);
    expect(await writer.finish()).toEqual({ sizeBytes: expected.length, sha256: sha256(expected) });
    await fh.close();

    expect((await readFile(file)).equals(expected)).toBe(true);
    expect((owned.buffer as ArrayBuffer & { detached: boolean }).detached).toBe(true);
    expect(owned.byteLength).toBe(0);
    expect(shared.byteLength).toBe(MiB); // left alone: the rest of its buffer is someone else's
    expect(sharedBuffer.subarray(MiB).byteLength).toBe(MiB);
    expect(unmarked.byteLength).toBe(MiB);
    expect(small.byteLength).toBe(1000);
  });
});

describe("readChunks", () => {
  it("reads a file in chunks with free headroom before each, reusing released buffers", async () => {
    const body = randomBytes(10 * 1000 + 3);
    const file = path.join(dir, "d.bin");
    await writeFile(file, body);
    const fh = await open(file, "r");
    const parts: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    try {
      for await (const c of readChunks(fh, body.length, { chunkBytes: 1000, headroom: 6 })) {
        expect(c.withHeadroom.byteLength).toBe(c.data.byteLength + 6);
        expect(c.withHeadroom.buffer).toBe(c.data.buffer);
        expect(c.data.byteOffset - c.withHeadroom.byteOffset).toBe(6);
        parts.push(Buffer.from(c.data));
        buffers.add(c.data.buffer);
        c.release();
      }
    } finally {
      await fh.close();
    }
    expect(Buffer.concat(parts).equals(body)).toBe(true);
    expect(parts).toHaveLength(11);
    // One chunk held by the caller and one read ahead: two buffers serve the whole file.
    expect(buffers.size).toBe(2);
  });

  it("never reuses the buffer of a chunk that was not released", async () => {
    const body = randomBytes(5000);
    const file = path.join(dir, "e.bin");
    await writeFile(file, body);
    const fh = await open(file, "r");
    const kept: Uint8Array[] = [];
    try {
      for await (const c of readChunks(fh, body.length, { chunkBytes: 1000 })) kept.push(c.data);
    } finally {
      await fh.close();
    }
    expect(Buffer.concat(kept).equals(body)).toBe(true);
  });

  it("waits for its read ahead before the caller closes the file when it stops early", async () => {
    const file = path.join(dir, "f.bin");
    await writeFile(file, randomBytes(64 * 1024));
    const fh = await open(file, "r");
    for await (const c of readChunks(fh, 64 * 1024, { chunkBytes: 1024 })) {
      expect(c.data.byteLength).toBe(1024);
      break;
    }
    await fh.close();
  });

  it("stops when the signal aborts", async () => {
    const file = path.join(dir, "g.bin");
    await writeFile(file, randomBytes(8 * 1024));
    const fh = await open(file, "r");
    const abort = new AbortController();
    let chunks = 0;
    try {
      await expect(
        (async () => {
          for await (const _ of readChunks(fh, 8 * 1024, { chunkBytes: 1024, signal: abort.signal })) {
            if (++chunks === 2) abort.abort(new Error("gone"));
          }
        })(),
      ).rejects.toThrow("gone");
    } finally {
      await fh.close();
    }
    expect(chunks).toBe(2);
  });
});
