// Artifact files through O_DIRECT (src/registry/direct-io.ts): aligned buffers, whole-block
// writes with the tail padded and cut back, whole-block reads with headroom before the data.
import { createHash, randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { ArtifactFileWriter, readChunks } from "../../src/registry/artifact-io.js";
import { FsArtifactStore } from "../../src/registry/fs-artifact-store.js";
import { createArtifactFile, DIRECT_ALIGN, dropFreeAlignedBuffers, giveAlignedBuffer, openArtifactFile, takeAlignedBuffer } from "../../src/registry/direct-io.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-direct-io-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The open flags of one of this process's descriptors, from /proc. */
async function openFlags(fd: number): Promise<number> {
  const info = await readFile(`/proc/self/fdinfo/${fd}`, "utf8");
  return parseInt(/^flags:\s+([0-7]+)$/m.exec(info)![1]!, 8);
}

describe("direct artifact files", () => {
  it("opens new files and files to read with O_DIRECT on the test's disk, and plain when asked", async () => {
    const made = await createArtifactFile(path.join(dir, "a.bin"), { direct: true });
    expect(made.direct).toBe(true);
    expect((await openFlags(made.fh.fd)) & fsConstants.O_DIRECT).toBe(fsConstants.O_DIRECT);
    await made.fh.close();
    const read = await openArtifactFile(path.join(dir, "a.bin"), { direct: true });
    expect((await openFlags(read.fh.fd)) & fsConstants.O_DIRECT).toBe(fsConstants.O_DIRECT);
    await read.fh.close();
    const plain = await createArtifactFile(path.join(dir, "b.bin"), { direct: false });
    expect(plain.direct).toBe(false);
    expect((await openFlags(plain.fh.fd)) & fsConstants.O_DIRECT).toBe(0);
    await plain.fh.close();
    await expect(createArtifactFile(path.join(dir, "a.bin"), { direct: true })).rejects.toMatchObject({ code: "EEXIST" });
  });

  it("cuts page-aligned buffers of whole 64 KiB pages from shared slabs, and reuses those given back", async () => {
    const a = takeAlignedBuffer(100_000);
    const b = takeAlignedBuffer(100_000);
    expect([a.byteLength, b.byteLength]).toEqual([128 * 1024, 128 * 1024]);
    expect(a.byteOffset % (64 * 1024)).toBe(0);
    expect(b.byteOffset % (64 * 1024)).toBe(0);
    expect(b.buffer === a.buffer ? Math.abs(b.byteOffset - a.byteOffset) >= a.byteLength : true).toBe(true);
    giveAlignedBuffer(a);
    const again = takeAlignedBuffer(128 * 1024);
    expect([again.buffer, again.byteOffset]).toEqual([a.buffer, a.byteOffset]);
    // Once dropped (after an idle spell), free buffers and the slab being cut are forgotten.
    giveAlignedBuffer(again);
    await dropFreeAlignedBuffers();
    const fresh = takeAlignedBuffer(128 * 1024);
    expect(fresh.buffer).not.toBe(a.buffer);
    expect(fresh.byteOffset).toBe(0);
  });

  it("frees the dropped slabs at once instead of at some later collection", async () => {
    await dropFreeAlignedBuffers();
    let freed = false;
    const registry = new FinalizationRegistry<string>(() => (freed = true));
    (() => {
      const buf = takeAlignedBuffer(64 * 1024);
      registry.register(buf.buffer, "slab");
      giveAlignedBuffer(buf);
    })();
    await dropFreeAlignedBuffers();
    // The registry's callback runs in a task of its own once a collection has found the slab dead.
    for (let turn = 0; turn < 100 && !freed; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(freed).toBe(true);
  });

  for (const size of [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, 1024 * 1024, 3 * 1024 * 1024 + 17]) {
    it(`writes ${size} bytes in chunks of odd sizes: exactly those bytes, with their SHA-256`, async () => {
      const body = randomBytes(size);
      const file = path.join(dir, "w.bin");
      const { fh, direct } = await createArtifactFile(file, { direct: true });
      expect(direct).toBe(true);
      const writer = new ArtifactFileWriter(fh, 256 * 1024, direct);
      for (let at = 0; at < body.length; ) {
        const n = Math.min(body.length - at, 1 + ((at * 7919) % 300_000));
        await writer.write(body.subarray(at, at + n));
        at += n;
      }
      expect(await writer.finish()).toEqual({ sizeBytes: size, sha256: sha256(body) });
      await fh.close();
      expect((await stat(file)).size).toBe(size);
      expect((await readFile(file)).equals(body)).toBe(true);
    });
  }

  it("reads whole blocks with the headroom before each chunk's data, reusing released buffers", async () => {
    const body = randomBytes(5 * 8192 + 123);
    const file = path.join(dir, "r.bin");
    await writeFile(file, body);
    const { fh, direct } = await openArtifactFile(file, { direct: true });
    expect(direct).toBe(true);
    const parts: Buffer[] = [];
    // Buffers are slices of shared slabs: told apart by slab and offset.
    const slabs = new Map<ArrayBufferLike, number>();
    const buffers = new Set<string>();
    try {
      // 8,192 + 100 asked: chunks are cut to whole blocks.
      for await (const c of readChunks(fh, body.length, { chunkBytes: 8192 + 100, headroom: 6, direct })) {
        expect(c.withHeadroom.byteLength).toBe(c.data.byteLength + 6);
        expect(c.withHeadroom.buffer).toBe(c.data.buffer);
        expect(c.data.byteOffset % DIRECT_ALIGN).toBe(0);
        parts.push(Buffer.from(c.data));
        if (!slabs.has(c.data.buffer)) slabs.set(c.data.buffer, slabs.size);
        buffers.add(`${slabs.get(c.data.buffer)}@${c.data.byteOffset}`);
        c.release();
      }
    } finally {
      await fh.close();
    }
    expect(parts.map((p) => p.length)).toEqual([8192, 8192, 8192, 8192, 8192, 123]);
    expect(Buffer.concat(parts).equals(body)).toBe(true);
    expect(buffers.size).toBe(2);
  });

  it("reads a file smaller than a block, and one that is empty", async () => {
    for (const size of [10, 0]) {
      const body = randomBytes(size);
      const file = path.join(dir, `s${size}.bin`);
      await writeFile(file, body);
      const { fh, direct } = await openArtifactFile(file, { direct: true });
      const kept: Uint8Array[] = [];
      try {
        for await (const c of readChunks(fh, size, { chunkBytes: 1024 * 1024, direct })) kept.push(Buffer.from(c.data));
      } finally {
        await fh.close();
      }
      expect(Buffer.concat(kept).equals(body)).toBe(true);
    }
  });

  it("reads no byte past the recorded size of a file that grew", async () => {
    const body = randomBytes(3 * DIRECT_ALIGN + 50);
    const file = path.join(dir, "long.bin");
    await writeFile(file, body);
    const { fh, direct } = await openArtifactFile(file, { direct: true });
    const kept: Buffer[] = [];
    try {
      for await (const c of readChunks(fh, 2 * DIRECT_ALIGN + 7, { chunkBytes: 2 * DIRECT_ALIGN, direct })) kept.push(Buffer.from(c.data));
    } finally {
      await fh.close();
    }
    expect(Buffer.concat(kept).equals(body.subarray(0, 2 * DIRECT_ALIGN + 7))).toBe(true);
  });

  it("follows registry.directIo: the file is opened with O_DIRECT or not", async () => {
    expect(parseConfig({}).registry.directIo).toBe(true);
    expect(parseConfig({ registry: { directIo: false } }).registry.directIo).toBe(false);
    for (const directIo of [false, true]) {
      const root = path.join(dir, `store-${directIo}`);
      const store = await FsArtifactStore.open(root, { directIo });
      const w = await store.beginWrite({ model: "m", version: "1", artifact: "a.bin" });
      await w.write(Buffer.from("ten bytes!"));
      const [tmp] = await readdir(path.join(root, "tmp"));
      const fds = await readdir("/proc/self/fd");
      const open = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).then((to) => ({ fd: Number(fd), to }), () => undefined)));
      const fd = open.find((f) => f?.to === path.join(root, "tmp", tmp!))!.fd;
      expect((await openFlags(fd)) & fsConstants.O_DIRECT).toBe(directIo ? fsConstants.O_DIRECT : 0);
      // Staged in the aligned buffer until it fills or the write completes, either way.
      expect((await stat(path.join(root, "tmp", tmp!))).size).toBe(0);
      expect(await w.complete(sha256(Buffer.from("ten bytes!")))).toEqual({ sizeBytes: 10, sha256: sha256(Buffer.from("ten bytes!")) });
      const got: Buffer[] = [];
      for await (const c of store.read({ model: "m", version: "1", artifact: "a.bin" }, { chunkBytes: 1024 * 1024 })) got.push(Buffer.from(c.data));
      expect(Buffer.concat(got).toString()).toBe("ten bytes!");
    }
  });
});
