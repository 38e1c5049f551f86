// SHA-256 on the hash worker (src/registry/hash-worker.ts): the digests of large direct-mode
// artifacts, written and read back, and what happens when the worker dies mid-artifact.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArtifactFileWriter, countAndHashChunks, readChunks } from "../../src/registry/artifact-io.js";
import { createArtifactFile, dropFreeAlignedBuffers, openArtifactFile, takeAlignedBuffer } from "../../src/registry/direct-io.js";
import { stopHashWorker, WorkerSha256 } from "../../src/registry/hash-worker.js";

const MiB = 1024 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-hash-worker-"));
});

afterEach(async () => {
  await stopHashWorker();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** How many of this process's threads are hash workers (named after the worker, in /proc). */
async function hashThreads(): Promise<number> {
  const names = await Promise.all((await readdir("/proc/self/task")).map((tid) => readFile(`/proc/self/task/${tid}/comm`, "utf8").catch(() => "")));
  return names.filter((name) => name.trim() === "openloop-sha256").length;
}

/** Writes `body` in chunks of odd sizes through a direct-mode writer; the writer's result. */
async function writeDirect(file: string, body: Buffer, onWritten?: (bytes: number) => Promise<void>) {
  const { fh, direct } = await createArtifactFile(file, { direct: true });
  expect(direct).toBe(true);
  const writer = new ArtifactFileWriter(fh, 4 * MiB, direct);
  try {
    for (let at = 0; at < body.length; ) {
      const n = Math.min(body.length - at, 40_000 + ((at * 7919) % 300_000));
      await writer.write(body.subarray(at, at + n));
      at += n;
      await onWritten?.(at);
    }
    return await writer.finish();
  } finally {
    await writer.abandon();
    await fh.close();
  }
}

describe("the hash worker", () => {
  it("hashes bytes in shared memory in the order given, and refuses memory it cannot share", async () => {
    const body = randomBytes(3 * MiB + 5);
    const shared = takeAlignedBuffer(body.length);
    body.copy(shared);
    const hash = new WorkerSha256();
    await Promise.all([hash.update(shared.subarray(0, 1000)), hash.update(shared.subarray(1000, 2 * MiB)), hash.update(shared.subarray(2 * MiB, body.length))]);
    expect(await hash.digest()).toBe(sha256(body));
    const other = new WorkerSha256();
    expect(() => other.update(Buffer.from("not shared"))).toThrow(TypeError);
    other.abandon();
  });

  it("fails a hash begun in a worker that has since been replaced, rather than starting it over", async () => {
    const shared = takeAlignedBuffer(64 * 1024);
    const old = new WorkerSha256();
    await old.update(shared.subarray(0, 1000));
    await stopHashWorker();
    const fresh = new WorkerSha256();
    await fresh.update(shared.subarray(0, 1000));
    await expect(old.update(shared.subarray(1000, 2000))).rejects.toThrow(/hash worker stopped/);
    await expect(old.digest()).rejects.toThrow(/hash worker stopped/);
    expect(await fresh.digest()).toBe(sha256(shared.subarray(0, 1000)));
  });

  it("stops when the idle buffers are dropped, unless a hash is open (it holds their slabs too)", async () => {
    const shared = takeAlignedBuffer(64 * 1024);
    const open = new WorkerSha256();
    await open.update(shared.subarray(0, 1000));
    expect(await hashThreads()).toBe(1);
    await dropFreeAlignedBuffers();
    // Still there: the open hash goes on in the same worker.
    await open.update(shared.subarray(1000, 2000));
    expect(await open.digest()).toBe(sha256(shared.subarray(0, 2000)));
    takeAlignedBuffer(64 * 1024);
    await dropFreeAlignedBuffers();
    expect(await hashThreads()).toBe(0);
  });

  it("gives a large direct-mode artifact its SHA-256 and exactly its bytes", async () => {
    const body = randomBytes(9 * MiB + 17);
    const file = path.join(dir, "big.bin");
    expect(await writeDirect(file, body)).toEqual({ sizeBytes: body.length, sha256: sha256(body) });
    expect((await readFile(file)).equals(body)).toBe(true);
  });

  it("fails an artifact whose worker died mid-way, and hashes the next one on a new worker", async () => {
    const body = randomBytes(9 * MiB);
    let stopped = false;
    const failed = writeDirect(path.join(dir, "a.bin"), body, async (at) => {
      if (at > 5 * MiB && !stopped) {
        stopped = true;
        await stopHashWorker();
      }
    });
    await expect(failed).rejects.toThrow(/hash worker/);
    expect((await writeDirect(path.join(dir, "b.bin"), body)).sha256).toBe(sha256(body));
  });

  it("hashes direct reads of a large file while they are out, holding each buffer until it is read", async () => {
    const body = randomBytes(11 * MiB + 3);
    const file = path.join(dir, "r.bin");
    await writeDirect(file, body);
    const { fh, direct } = await openArtifactFile(file, { direct: true });
    expect(direct).toBe(true);
    try {
      const parts: Buffer[] = [];
      const it = countAndHashChunks(readChunks(fh, body.length, { chunkBytes: MiB, direct }), { hash: true, sizeBytes: body.length });
      let step = await it.next();
      while (!step.done) {
        expect(step.value.data.buffer).toBeInstanceOf(SharedArrayBuffer);
        parts.push(Buffer.from(step.value.data));
        step.value.release();
        step = await it.next();
      }
      expect(step.value).toEqual({ bytes: body.length, sha256: sha256(body) });
      expect(Buffer.concat(parts).equals(body)).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it("fails a read whose worker died, instead of answering without a digest", async () => {
    const body = randomBytes(9 * MiB);
    const file = path.join(dir, "r.bin");
    await writeDirect(file, body);
    const { fh, direct } = await openArtifactFile(file, { direct: true });
    try {
      const read = (async () => {
        let n = 0;
        const it = countAndHashChunks(readChunks(fh, body.length, { chunkBytes: MiB, direct }), { hash: true, sizeBytes: body.length });
        for (let step = await it.next(); !step.done; step = await it.next()) {
          step.value.release();
          if (++n === 2) await stopHashWorker();
        }
      })();
      await expect(read).rejects.toThrow(/hash worker/);
    } finally {
      await fh.close();
    }
  });
});
