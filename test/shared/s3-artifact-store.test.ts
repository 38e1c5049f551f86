// The ArtifactStore contract of S3ArtifactStore against a real S3 server (SeaweedFS), with
// signed requests: round trip, a large artifact streamed in bounded memory, digest mismatches,
// abort, the orphan sweep and the lifecycle rule, and an outage answered as "unavailable".
import { createHash, randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateMultipartUploadCommand,
  GetBucketLifecycleConfigurationCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { ArtifactStoreError, type ArtifactKey } from "../../src/registry/artifact-store.js";
import { S3ArtifactStore } from "../../src/registry/s3-artifact-store.js";
import { startSeaweedFs, type SeaweedFs } from "../support/seaweedfs.js";

const MiB = 1024 * 1024;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
let weed: SeaweedFs;
let bucketSeq = 0;

beforeAll(async () => {
  weed = await startSeaweedFs();
});

afterAll(async () => {
  await weed?.teardown();
});

async function freshStore(extra: { now?: () => number; prefix?: string } = {}): Promise<{ store: S3ArtifactStore; bucket: string }> {
  const bucket = await weed.createBucket(`artifacts-${process.pid}-${++bucketSeq}`);
  const store = new S3ArtifactStore({
    endpoint: weed.endpoint,
    bucket,
    region: weed.region,
    credentials: weed.credentials,
    prefix: extra.prefix ?? "openloop/",
    forcePathStyle: true,
    partBytes: 5 * MiB,
    queueSize: 2,
    now: extra.now,
  });
  return { store, bucket };
}

async function keysIn(bucket: string): Promise<string[]> {
  const res = await weed.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

async function multipartUploadsIn(bucket: string): Promise<number> {
  const res = await weed.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (res.Uploads ?? []).length;
}

async function readAll(store: S3ArtifactStore, key: ArtifactKey, options: { chunkBytes: number; headroom?: number; expectedSha256?: string }) {
  const parts: Buffer[] = [];
  const sizes: number[] = [];
  for await (const chunk of store.read(key, options)) {
    expect(chunk.withHeadroom.byteLength).toBe(chunk.data.byteLength + (options.headroom ?? 0));
    sizes.push(chunk.data.byteLength);
    parts.push(Buffer.from(chunk.data));
    chunk.release();
  }
  return { bytes: Buffer.concat(parts), sizes };
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("S3ArtifactStore on SeaweedFS", () => {
  it("round-trips an artifact: digest checked, chunks of at most chunkBytes behind headroom, nothing else left", async () => {
    const { store, bucket } = await freshStore();
    const bytes = randomBytes(300_000);
    const key = { model: "iris", version: "blob-1", artifact: "model.bin" };
    const w = await store.beginWrite(key);
    for (let i = 0; i < bytes.length; i += 70_000) await w.write(bytes.subarray(i, i + 70_000));
    const done = await w.complete(sha256(bytes));
    expect(done).toEqual({ sizeBytes: bytes.length, sha256: sha256(bytes) });
    expect(await keysIn(bucket)).toEqual(["openloop/objects/iris/blob-1/model.bin"]);
    expect(await multipartUploadsIn(bucket)).toBe(0);

    const { bytes: back, sizes } = await readAll(store, key, { chunkBytes: 64 * 1024, headroom: 5, expectedSha256: sha256(bytes) });
    expect(back.equals(bytes)).toBe(true);
    expect(Math.max(...sizes)).toBe(64 * 1024);
    expect(sizes.slice(0, -1).every((s) => s === 64 * 1024)).toBe(true);

    await store.deleteVersion("iris", "blob-1", ["model.bin"]);
    expect(await keysIn(bucket)).toEqual([]);
    await expect(readAll(store, key, { chunkBytes: 1024 })).rejects.toMatchObject({ kind: "not_found" });
    await store.close();
  });

  it("keeps every part's own bytes when part buffers are reused (distinct bytes, more parts than the queue)", async () => {
    const { store } = await freshStore();
    // 23 MiB of distinct bytes in 5 MiB parts, 2 in flight: parts 4 and later go out in buffers
    // that earlier parts used. Chunks straddle part boundaries.
    const bytes = randomBytes(23 * MiB + 12_345);
    const key = { model: "iris", version: "parts-1", artifact: "model.bin" };
    const w = await store.beginWrite(key);
    for (let i = 0; i < bytes.length; i += 777_777) await w.write(bytes.subarray(i, i + 777_777));
    expect(await w.complete(sha256(bytes))).toEqual({ sizeBytes: bytes.length, sha256: sha256(bytes) });
    const { bytes: back } = await readAll(store, key, { chunkBytes: MiB, expectedSha256: sha256(bytes) });
    expect(back.equals(bytes)).toBe(true);
    await store.close();
  });

  it("streams a large artifact up and down without holding it in memory", async () => {
    const { store } = await freshStore();
    const total = 160 * MiB;
    const block = randomBytes(MiB);
    const expected = createHash("sha256");
    for (let i = 0; i < total / MiB; i++) expected.update(block);
    const digest = expected.digest("hex");
    const key = { model: "big", version: "blob-1", artifact: "weights.bin" };

    // Retained memory, measured after a full collection every 16 MiB: garbage not yet collected
    // (socket buffers already passed on) says nothing about what the store holds.
    const retained = () => {
      gc();
      return process.memoryUsage().arrayBuffers;
    };
    const base = retained();
    let uploadPeak = 0;
    let downloadPeak = 0;
    const w = await store.beginWrite(key);
    // The same block again and again: the bytes kept alive are the store's buffers, not the source's.
    for (let i = 0; i < total / MiB; i++) {
      await w.write(block);
      if (i % 16 === 15) uploadPeak = Math.max(uploadPeak, retained() - base);
    }
    expect(await w.complete(digest)).toEqual({ sizeBytes: total, sha256: digest });
    // The download's own baseline: what the upload left for the collector does not count.
    const downloadBase = retained();
    let received = 0;
    let sinceCheck = 0;
    for await (const chunk of store.read(key, { chunkBytes: 256 * 1024, expectedSha256: digest })) {
      received += chunk.data.byteLength;
      sinceCheck += chunk.data.byteLength;
      chunk.release();
      if (sinceCheck >= 16 * MiB) {
        sinceCheck = 0;
        downloadPeak = Math.max(downloadPeak, retained() - downloadBase);
      }
    }
    expect(received).toBe(total);
    // Bounded, far below the artifact's 160 MiB: an upload holds the parts in flight (queue 2 +
    // the one filling, 5 MiB each) and what the HTTP stack still holds; a download a few chunks
    // and the HTTP stack's buffers (measured 0.5-33 MiB, varying run to run).
    expect(uploadPeak, `retained while uploading: ${uploadPeak} bytes`).toBeLessThan(64 * MiB);
    expect(downloadPeak, `retained while downloading: ${downloadPeak} bytes`).toBeLessThan(64 * MiB);
    await store.close();
  });

  it("a digest mismatch at complete is data_loss and leaves no object; a corrupt stored object is data_loss on read", async () => {
    const { store, bucket } = await freshStore();
    const bytes = randomBytes(50_000);
    const key = { model: "m", version: "blob-2", artifact: "a.bin" };
    const w = await store.beginWrite(key);
    await w.write(bytes);
    const err = await w.complete("0".repeat(64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreError);
    expect((err as ArtifactStoreError).kind).toBe("data_loss");
    expect(await keysIn(bucket)).toEqual([]);
    expect(await multipartUploadsIn(bucket)).toBe(0);

    const ok = await store.beginWrite(key);
    await ok.write(bytes);
    await ok.complete();
    const corrupt = Buffer.from(bytes);
    corrupt[1234] ^= 0xff;
    await weed.client.send(new PutObjectCommand({ Bucket: bucket, Key: "openloop/objects/m/blob-2/a.bin", Body: corrupt }));
    await expect(readAll(store, key, { chunkBytes: 8192, expectedSha256: sha256(bytes) })).rejects.toMatchObject({ kind: "data_loss" });
    await store.close();
  });

  it("abort mid-upload (multipart already started) leaves no object and no multipart upload", async () => {
    const { store, bucket } = await freshStore();
    const w = await store.beginWrite({ model: "m", version: "blob-3", artifact: "a.bin" });
    const block = randomBytes(MiB);
    for (let i = 0; i < 12; i++) await w.write(block); // past two 5 MiB parts
    await w.abort();
    await w.abort();
    expect(await keysIn(bucket)).toEqual([]);
    expect(await multipartUploadsIn(bucket)).toBe(0);

    // An abort signal does the same.
    const controller = new AbortController();
    const w2 = await store.beginWrite({ model: "m", version: "blob-4", artifact: "a.bin" }, controller.signal);
    await w2.write(randomBytes(1000));
    controller.abort();
    await w2.abort();
    expect(await keysIn(bucket)).toEqual([]);
    await store.close();
  });

  it("sweepOrphans aborts uploads a dead replica left, once old enough, and nothing else", async () => {
    let now = Date.now();
    const { store, bucket } = await freshStore({ now: () => now });
    // A finished artifact, an upload whose replica died after two parts, and another program's upload.
    const done = await store.beginWrite({ model: "m", version: "blob-5", artifact: "a.bin" });
    await done.write(randomBytes(1000));
    await done.complete();
    const dead = await store.beginWrite({ model: "m", version: "blob-6", artifact: "a.bin" });
    const block = randomBytes(MiB);
    for (let i = 0; i < 12; i++) await dead.write(block);
    await weed.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "not-ours/upload" }));
    expect(await multipartUploadsIn(bucket)).toBe(2);
    expect(await keysIn(bucket)).toEqual(["openloop/objects/m/blob-5/a.bin"]); // the dead upload is invisible

    expect(await store.sweepOrphans(60 * 60 * 1000)).toBe(0); // younger than an hour
    now += 2 * 60 * 60 * 1000;
    expect(await store.sweepOrphans(60 * 60 * 1000)).toBe(1);
    expect(await keysIn(bucket)).toEqual(["openloop/objects/m/blob-5/a.bin"]);
    expect(await multipartUploadsIn(bucket)).toBe(1); // not-ours/upload stays
    await store.close();
  });

  it("adds a lifecycle rule aborting its incomplete uploads, and keeps the bucket's other rules", async () => {
    const { store, bucket } = await freshStore();
    await weed.client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: [{ ID: "users-own", Status: "Enabled", Filter: { Prefix: "logs/" }, Expiration: { Days: 30 } }] },
      }),
    );
    expect(await store.ensureLifecycleRule(1)).toBe(true);
    expect(await store.ensureLifecycleRule(1)).toBe(true);
    const rules = (await weed.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
    expect(rules.find((r) => r.ID === "openloop-expire-unfinished-uploads")?.AbortIncompleteMultipartUpload?.DaysAfterInitiation).toBe(1);
    expect(rules.map((r) => [r.ID, r.Filter?.Prefix, r.Expiration?.Days]).sort()).toEqual([
      ["openloop-expire-unfinished-uploads", "openloop/objects/", undefined],
      ["users-own", "logs/", 30],
    ]);
    await store.close();
  });

  it("answers unavailable quickly while the store is down, and works again once it is back", async () => {
    const { store } = await freshStore();
    const key = { model: "m", version: "blob-6", artifact: "a.bin" };
    const w = await store.beginWrite(key);
    await w.write(Buffer.from("before"));
    await w.complete();
    const pending = await store.beginWrite({ model: "m", version: "blob-8", artifact: "a.bin" });
    await weed.stop();
    try {
      const started = Date.now();
      await expect(store.beginWrite({ model: "m", version: "blob-7", artifact: "a.bin" })).rejects.toMatchObject({ kind: "unavailable" });
      await pending.write(Buffer.from("begun before the outage"));
      await expect(pending.complete()).rejects.toMatchObject({ kind: "unavailable" });
      await expect(readAll(store, key, { chunkBytes: 1024 })).rejects.toMatchObject({ kind: "unavailable" });
      await expect(store.sweepOrphans(0)).rejects.toMatchObject({ kind: "unavailable" });
      expect(Date.now() - started).toBeLessThan(15_000); // the "fast": seconds, not the SDK's retry ladder
    } finally {
      await weed.start();
    }
    const { bytes } = await readAll(store, key, { chunkBytes: 1024 });
    expect(bytes.toString()).toBe("before");
    await store.close();
  });
});
