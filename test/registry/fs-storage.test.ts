// The filesystem storage on its own: recovery at start, atomic publish, the directory lock.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open as openFile, readdir, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RegistryError } from "../../src/registry/errors.js";
import { FsRegistryStorage } from "../../src/registry/fs-storage.js";
import type { VersionDraft } from "../../src/registry/storage.js";

let root: string;
const open: FsRegistryStorage[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "openloop-fs-storage-"));
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openStorage(maxArtifactBytes = 1024 * 1024): Promise<FsRegistryStorage> {
  const s = await FsRegistryStorage.open({ root, maxArtifactBytes, maxConcurrentUploads: 4, verifyOnRead: true });
  open.push(s);
  return s;
}

function draft(model: string, version?: string): VersionDraft {
  return {
    model,
    version,
    type: "onnx",
    description: "",
    metadata: {},
    tags: [],
    lineage: { parentName: "", parentVersion: "", producer: "", samplesUsed: 0, details: {} },
  };
}

async function register(s: FsRegistryStorage, model: string, version: string | undefined, files: Record<string, string>) {
  const u = await s.beginUpload(draft(model, version));
  for (const [name, text] of Object.entries(files)) {
    await u.beginArtifact(name);
    await u.write(Buffer.from(text));
    await u.finishArtifact();
  }
  return u.commit();
}

async function readAll(s: FsRegistryStorage, model: string, version: string, artifact: string): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const c of s.readArtifact(model, version, artifact, { chunkBytes: 4 })) {
    parts.push(Buffer.from(c.data));
    c.release();
  }
  return Buffer.concat(parts).toString();
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RegistryError) return err.kind;
    throw err;
  }
  throw new Error("expected a RegistryError");
}

describe("FsRegistryStorage", () => {
  it("shows nothing of an upload until it is committed", async () => {
    const s = await openStorage();
    const u = await s.beginUpload(draft("m", "1"));
    await u.beginArtifact("a.bin");
    await u.write(Buffer.from("hello"));
    await u.finishArtifact();
    expect(await s.getVersion("m", "1")).toBeUndefined();
    expect(await s.listModels()).toEqual([]);
    await u.commit();
    expect(await readAll(s, "m", "1", "a.bin")).toBe("hello");
  });

  it("removes temp dirs and stray temp files left by a crash when it opens", async () => {
    await mkdir(path.join(root, "tmp", "upload-dead", "artifacts"), { recursive: true });
    await writeFile(path.join(root, "tmp", "upload-dead", "artifacts", "half.bin"), "half");
    await mkdir(path.join(root, "models", "m"), { recursive: true });
    await writeFile(path.join(root, "models", "m", ".aliases.json.1234.tmp"), "{");
    await openStorage();
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
    expect(await readdir(path.join(root, "models", "m"))).toEqual([]);
  });

  it("rebuilds the index from disk, and skips a version whose artifact no longer matches its record", async () => {
    const first = await openStorage();
    await register(first, "m", "1", { "a.bin": "one" });
    await register(first, "m", "2", { "a.bin": "two" });
    await first.setAlias("m", "prod", "1");
    await first.close();
    await truncate(path.join(root, "models", "m", "versions", "2", "artifacts", "a.bin"), 1);

    const second = await openStorage();
    expect(await second.listVersionNames("m")).toEqual(["1"]);
    expect((await second.getModel("m"))?.aliases).toEqual({ prod: "1" });
    expect(await readAll(second, "m", "1", "a.bin")).toBe("one");
  });

  it("ends a download with data_loss when the stored bytes were changed", async () => {
    const s = await openStorage();
    await register(s, "m", "1", { "a.bin": "original" });
    await writeFile(path.join(root, "models", "m", "versions", "1", "artifacts", "a.bin"), "tampered");
    expect(await kindOf(readAll(s, "m", "1", "a.bin"))).toBe("data_loss");
  });

  it("ends a download of a large artifact (hashed on the worker) with data_loss when one byte changed", async () => {
    const s = await openStorage(16 * 1024 * 1024);
    const body = randomBytes(9 * 1024 * 1024);
    const u = await s.beginUpload(draft("big", "1"));
    await u.beginArtifact("w.bin");
    for (let at = 0; at < body.length; at += 300_000) await u.write(body.subarray(at, at + 300_000));
    expect((await u.finishArtifact()).sha256).toBe(createHash("sha256").update(body).digest("hex"));
    await u.commit();
    const read = async () => {
      const parts: Buffer[] = [];
      for await (const c of s.readArtifact("big", "1", "w.bin", { chunkBytes: 1024 * 1024 })) {
        parts.push(Buffer.from(c.data));
        c.release();
      }
      return Buffer.concat(parts);
    };
    expect((await read()).equals(body)).toBe(true);
    const fh = await openFile(path.join(root, "models", "big", "versions", "1", "artifacts", "w.bin"), "r+");
    await fh.write(Buffer.from([body[7_000_000]! ^ 1]), 0, 1, 7_000_000);
    await fh.close();
    expect(await kindOf(read())).toBe("data_loss");
  });

  it("publishes only one of two uploads of the same version that both passed the early check", async () => {
    const s = await openStorage();
    const a = await s.beginUpload(draft("m", "3"));
    const b = await s.beginUpload(draft("m", "3"));
    for (const u of [a, b]) {
      await u.beginArtifact("x.bin");
      await u.write(Buffer.from("x"));
      await u.finishArtifact();
    }
    const results = await Promise.allSettled([a.commit(), b.commit()]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((lost.reason as RegistryError).kind).toBe("already_exists");
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
  });

  it("stops writing once an artifact passes the maximum size and leaves no temp files", async () => {
    const s = await openStorage(10);
    const u = await s.beginUpload(draft("m", "1"));
    await u.beginArtifact("big.bin");
    await u.write(Buffer.alloc(8));
    expect(await kindOf(u.write(Buffer.alloc(8)))).toBe("too_large");
    await u.abort();
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
  });

  it("refuses a second live opener of the same directory", async () => {
    await openStorage();
    // Pretend another live process on this host holds the lock: our parent process.
    await writeFile(path.join(root, "lock.json"), JSON.stringify({ pid: process.ppid, host: os.hostname() }));
    await expect(FsRegistryStorage.open({ root, maxArtifactBytes: 1, maxConcurrentUploads: 1, verifyOnRead: true })).rejects.toThrow(/in use by process/);
  });

  it("takes over the lock of a process that is gone", async () => {
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, "lock.json"), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname() }));
    const s = await openStorage();
    await register(s, "m", undefined, { "a.bin": "x" });
    expect(await s.listVersionNames("m")).toEqual(["1"]);
  });
});
