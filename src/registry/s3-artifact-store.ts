// An ArtifactStore on S3-compatible object storage (AWS S3, SeaweedFS, MinIO, ...).
//
// Layout under the configured prefix: objects/<model>/<version>/<artifact>, where <version> is
// a key unique to the upload. An upload streams through a multipart upload (bounded parts, a
// bounded queue: never the whole artifact in memory) and is hashed on the way; complete() checks
// the digest, then completes the multipart upload, which makes the object appear at once. The
// "temporary" of an upload in progress is thus its incomplete multipart upload: invisible to
// readers, and what the orphan sweep and the lifecycle rule remove.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { BuildMiddleware, MetadataBearer } from "@smithy/types";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
  UploadPartCommand,
  type LifecycleRule,
} from "@aws-sdk/client-s3";
import { ArtifactStoreError, type ArtifactKey, type ArtifactStore, type ArtifactWrite } from "./artifact-store.js";
import type { ReadChunk } from "./storage.js";

export interface S3ArtifactStoreOptions {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Key prefix for every object ("" or ending in "/" by convention; used as given). */
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** Bytes per multipart part (S3's minimum is 5 MiB). */
  readonly partBytes?: number;
  /** Parts uploaded at once per artifact; memory per upload is about (queue + 1) × partBytes. */
  readonly queueSize?: number;
  /** How long to wait for a TCP connection, in milliseconds: small, so an outage answers fast. */
  readonly connectTimeoutMs?: number;
  /** Longest silence on an open request's socket, in milliseconds. */
  readonly socketTimeoutMs?: number;
  /** The clock orphan ages are measured by (tests move it). */
  readonly now?: () => number;
}

const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
const DEFAULT_QUEUE = 2;
// The ID of the lifecycle rule that expires temporaries this store leaves behind.
const LIFECYCLE_RULE_ID = "openloop-expire-unfinished-uploads";
// Buffers a reader keeps for reuse (the chunk being filled, the caller's, the transport's).
const POOL_BUFFERS = 4;
// Chunks a download reads ahead of its caller.
const READ_AHEAD = 2;

export class S3ArtifactStore implements ArtifactStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partBytes: number;
  private readonly queueSize: number;
  private readonly now: () => number;
  private readonly unavailableListeners: (() => void)[] = [];

  constructor(options: S3ArtifactStoreOptions) {
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      // A copy: the SDK marks the object it is given, and this one belongs to the config.
      credentials: options.credentials ? { ...options.credentials } : undefined,
      forcePathStyle: options.forcePathStyle,
      // One retry for a dropped connection; an outage must answer UNAVAILABLE in seconds, not
      // after the SDK's default backoff ladder.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: options.connectTimeoutMs ?? 2_000, requestTimeout: options.socketTimeoutMs ?? 30_000 },
    });
    this.client.middlewareStack.add(unsignedPartPayload, { step: "build", name: "openloopUnsignedPartPayload" });
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.partBytes = Math.max(5 * 1024 * 1024, options.partBytes ?? DEFAULT_PART_BYTES);
    this.queueSize = Math.max(1, options.queueSize ?? DEFAULT_QUEUE);
    this.now = options.now ?? Date.now;
  }

  private objectsPrefix(): string {
    return `${this.prefix}objects/`;
  }

  private objectKey(key: ArtifactKey): string {
    return `${this.prefix}objects/${key.model}/${key.version}/${key.artifact}`;
  }

  /**
   * Adds a lifecycle rule aborting this store's incomplete multipart uploads after
   * `olderThanDays`, keeping the bucket's other rules (objects themselves never expire). Returns false when the store refuses
   * (no permission, not supported): the caller then relies on sweepOrphans.
   */
  async ensureLifecycleRule(olderThanDays: number): Promise<boolean> {
    try {
      let rules: LifecycleRule[] = [];
      try {
        rules = (await this.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: this.bucket }))).Rules ?? [];
      } catch (err) {
        if ((err as { name?: string }).name !== "NoSuchLifecycleConfiguration") throw err;
      }
      const days = Math.max(1, Math.ceil(olderThanDays));
      const ours: LifecycleRule = {
        ID: LIFECYCLE_RULE_ID,
        Status: "Enabled",
        Filter: { Prefix: this.objectsPrefix() },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: days },
      };
      const existing = rules.find((r) => r.ID === LIFECYCLE_RULE_ID);
      if (existing && existing.Filter?.Prefix === ours.Filter!.Prefix && existing.AbortIncompleteMultipartUpload?.DaysAfterInitiation === days) return true;
      const others = rules.filter((r) => r.ID !== LIFECYCLE_RULE_ID);
      await this.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: this.bucket, LifecycleConfiguration: { Rules: [...others, ours] } }));
      return true;
    } catch {
      return false;
    }
  }

  async beginWrite(key: ArtifactKey, signal?: AbortSignal): Promise<ArtifactWrite> {
    signal?.throwIfAborted();
    const finalKey = this.objectKey(key);
    const { client, bucket, partBytes, queueSize } = this;
    // A multipart upload straight to the final key, completed only once the digest is checked:
    // until CompleteMultipartUpload nothing is visible under any key, a mismatch or an abort is
    // an AbortMultipartUpload, and the parts of a replica that died are an incomplete upload that
    // the lifecycle rule or sweepOrphans removes. Uploading to a temporary key and copying it
    // over would cost a second full write on the store (measured on SeaweedFS: the copy took
    // 30-50% as long as the upload); lib-storage's Upload is not used because it completes the
    // upload itself, before the digest could be checked. The final key is unique per upload and
    // the version row in PostgreSQL, written after complete(), is the commit point.
    let uploadId: string;
    try {
      uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: finalKey }), { abortSignal: signal })).UploadId!;
    } catch (err) {
      throw this.storeError(err, "starting an artifact upload");
    }
    const storeError = (err: unknown, what: string) => this.storeError(err, what);
    const hash = createHash("sha256");
    let size = 0;
    // Part buffers are reused once their UploadPart has settled: a fresh 8 MiB buffer per part
    // made V8 run a full mark-compact every few parts (external memory pressure).
    const spare: Buffer[] = [];
    let part: Buffer = Buffer.allocUnsafeSlow(partBytes);
    let filled = 0;
    let nextPart = 1;
    const parts: { ETag: string; PartNumber: number }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let state: "open" | "closing" | "done" = "open";

    const send = (buf: Buffer, length: number, number: number) => {
      const p: Promise<void> = client
        .send(new UploadPartCommand({ Bucket: bucket, Key: finalKey, UploadId: uploadId, PartNumber: number, Body: buf.subarray(0, length) }), { abortSignal: signal })
        .then(
          (res) => void parts.push({ ETag: res.ETag!, PartNumber: number }),
          (err: unknown) => void (failure ??= this.storeError(err, "uploading an artifact")),
        )
        .finally(() => {
          inFlight.delete(p);
          if (spare.length < queueSize) spare.push(buf);
        });
      inFlight.add(p);
    };
    // Sends the filled part (the only part may be short or empty); waits while queueSize parts
    // are in flight, which is the backpressure on the client.
    const flush = async (last: boolean) => {
      if (filled > 0 || (last && nextPart === 1)) {
        send(part, filled, nextPart++);
        part = last ? part : (spare.pop() ?? Buffer.allocUnsafeSlow(partBytes));
        filled = 0;
      }
      while (inFlight.size >= (last ? 1 : queueSize)) await Promise.race(inFlight);
    };
    const drop = async () => {
      if (state === "done") return;
      state = "done";
      signal?.removeEventListener("abort", onAbort);
      await Promise.allSettled([...inFlight]);
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: finalKey, UploadId: uploadId })).catch(() => undefined);
    };
    const onAbort = () => void drop();
    signal?.addEventListener("abort", onAbort, { once: true });

    return {
      async write(chunk) {
        if (failure) throw failure;
        if (state !== "open") throw new Error("the artifact write is finished");
        hash.update(chunk);
        size += chunk.byteLength;
        let offset = 0;
        while (offset < chunk.byteLength) {
          const n = Math.min(partBytes - filled, chunk.byteLength - offset);
          part.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          if (filled === partBytes) await flush(false);
        }
        if (failure) throw failure;
      },
      async complete(expectedSha256) {
        if (state !== "open") throw new Error("the artifact write is finished");
        state = "closing";
        try {
          await flush(true);
          if (failure) throw failure;
        } catch (err) {
          await drop();
          throw err;
        }
        const sha256 = hash.digest("hex");
        if (expectedSha256 !== undefined && expectedSha256 !== sha256) {
          await drop();
          throw new ArtifactStoreError("data_loss", `the ${size} bytes received have SHA-256 ${sha256}, the client said ${expectedSha256}`);
        }
        parts.sort((a, b) => a.PartNumber - b.PartNumber);
        try {
          await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: finalKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
        } catch (err) {
          await drop();
          throw storeError(err, "completing an artifact upload");
        }
        state = "done";
        signal?.removeEventListener("abort", onAbort);
        return { sizeBytes: size, sha256 };
      },
      abort: drop,
    };
  }

  async *read(key: ArtifactKey, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal; expectedSha256?: string }): AsyncGenerator<ReadChunk> {
    const what = `artifact '${key.artifact}' of ${key.model}@${key.version}`;
    let body: Readable;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { abortSignal: options.signal });
      body = res.Body as Readable;
    } catch (err) {
      throw this.storeError(err, `reading ${what}`);
    }
    const headroom = options.headroom ?? 0;
    const chunkBytes = Math.max(1, options.chunkBytes);
    const hash = options.expectedSha256 !== undefined ? createHash("sha256") : undefined;
    // Received pieces are gathered into chunks of chunkBytes behind `headroom` free bytes; a
    // released buffer carries a later chunk. A producer reads the body up to READ_AHEAD chunks
    // ahead of the caller, so S3 and the client's connection both stay busy; beyond that it stops
    // reading, which is the backpressure: the socket is not read while the caller is slow.
    const pool: Buffer[] = [];
    const take = () => pool.pop() ?? Buffer.allocUnsafeSlow(headroom + chunkBytes);
    let buf = take();
    let filled = 0;
    const emit = (): ReadChunk => {
      const b = buf;
      const n = filled;
      buf = take();
      filled = 0;
      let released = false;
      return {
        data: b.subarray(headroom, headroom + n),
        withHeadroom: b.subarray(0, headroom + n),
        release: () => {
          if (released) return;
          released = true;
          if (pool.length < POOL_BUFFERS) pool.push(b);
        },
      };
    };
    const ready: ReadChunk[] = [];
    let ended = false;
    let stopped = false;
    let failure: { error: unknown } | undefined;
    let wakeConsumer: (() => void) | undefined;
    let wakeProducer: (() => void) | undefined;
    const wake = (which: "consumer" | "producer") => {
      const w = which === "consumer" ? wakeConsumer : wakeProducer;
      if (which === "consumer") wakeConsumer = undefined;
      else wakeProducer = undefined;
      w?.();
    };
    const produce = async () => {
      try {
        for await (const piece of body as AsyncIterable<Buffer>) {
          hash?.update(piece);
          let offset = 0;
          while (offset < piece.byteLength) {
            const n = Math.min(chunkBytes - filled, piece.byteLength - offset);
            piece.copy(buf, headroom + filled, offset, offset + n);
            filled += n;
            offset += n;
            if (filled === chunkBytes) {
              ready.push(emit());
              wake("consumer");
              while (ready.length >= READ_AHEAD && !stopped) await new Promise<void>((resolve) => (wakeProducer = resolve));
              if (stopped) return;
            }
          }
        }
        if (filled > 0) ready.push(emit());
        if (hash && hash.digest("hex") !== options.expectedSha256) {
          failure = { error: new ArtifactStoreError("data_loss", `${what} no longer matches its registered SHA-256; the stored object is corrupt`) };
        }
      } catch (err) {
        failure = { error: options.signal?.aborted ? options.signal.reason : this.storeError(err, `reading ${what}`) };
      } finally {
        ended = true;
        wake("consumer");
      }
    };
    void produce();
    try {
      for (;;) {
        const chunk = ready.shift();
        if (chunk) {
          wake("producer");
          yield chunk;
          continue;
        }
        if (ended) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => (wakeConsumer = resolve));
      }
    } finally {
      stopped = true;
      body.destroy();
      wake("producer");
    }
  }

  async deleteVersion(model: string, version: string, artifacts: readonly string[]): Promise<void> {
    if (artifacts.length === 0) return;
    try {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: artifacts.map((artifact) => ({ Key: this.objectKey({ model, version, artifact }) })), Quiet: true },
        }),
      );
    } catch (err) {
      throw this.storeError(err, "deleting a version's artifacts");
    }
  }

  /** Aborts this store's multipart uploads started more than `olderThanMs` ago (uploads whose replica died). */
  async sweepOrphans(olderThanMs: number): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    try {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.objectsPrefix(), KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
        for (const u of page.Uploads ?? []) {
          if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() >= cutoff) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          removed++;
        }
        const more = page.IsTruncated && (page.NextKeyMarker || page.NextUploadIdMarker);
        keyMarker = more ? page.NextKeyMarker : undefined;
        uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
      } while (keyMarker || uploadIdMarker);
    } catch (err) {
      throw this.storeError(err, "sweeping orphaned uploads");
    }
    return removed;
  }

  /** Whether an artifact's object exists (for health checks and tests). */
  async exists(key: ArtifactKey): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (err) {
      const e = this.storeError(err, "checking an artifact");
      if (e instanceof ArtifactStoreError && e.kind === "not_found") return false;
      throw e;
    }
  }

  /** Whether the bucket answers a HeadBucket within `timeoutMs` (the health probe's cheap check). */
  async reachable(timeoutMs: number): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      return true;
    } catch {
      return false;
    }
  }

  /** Calls `listener` whenever an operation fails for want of the object store. */
  onUnavailable(listener: () => void): void {
    this.unavailableListeners.push(listener);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private storeError(err: unknown, what: string): unknown {
    const e = toStoreError(err, what);
    if (e instanceof ArtifactStoreError && e.kind === "unavailable") for (const l of this.unavailableListeners) l();
    return e;
  }
}

/**
 * The one mapping of S3 SDK failures to store errors: a missing object is not_found; no answer,
 * a timeout, a 5xx or a refused identity (403: the store is not usable as configured) is
 * unavailable. The message stays short: the SDK's own can carry whole XML bodies.
 */
function toStoreError(err: unknown, what: string): unknown {
  if (err instanceof ArtifactStoreError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === "NoSuchKey" || e?.name === "NotFound" || status === 404) {
    return new ArtifactStoreError("not_found", `${what}: the object is missing from the artifact store`);
  }
  // No status with SDK metadata or a socket error code: the request never got an answer.
  const noAnswer = status === undefined && (e?.$metadata !== undefined || /^E[A-Z_]+$/.test(e?.code ?? ""));
  if (noAnswer || (status !== undefined && (status >= 500 || status === 403)) || e?.name === "TimeoutError" || e?.name === "AbortError") {
    const detail = (e?.code ?? e?.name ?? "error") + (status ? ` (HTTP ${status})` : "");
    return new ArtifactStoreError("unavailable", `object storage is unavailable while ${what}: ${detail}`.slice(0, 300));
  }
  return err;
}

/**
 * Marks the body of each UploadPart UNSIGNED-PAYLOAD for SigV4, so the SDK does not compute a
 * SHA-256 of every part on the event loop (for a Buffer body it otherwise does, on http and
 * https endpoints alike): the store already hashes every byte for the artifact's digest, and
 * the part's integrity on the wire is the CRC32 checksum the SDK still sends with it.
 */
const unsignedPartPayload: BuildMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
  const request = args.request as { headers?: Record<string, string> } | undefined;
  if (context.commandName === "UploadPartCommand" && request?.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
  return next(args);
};
