// Where a shared registry keeps artifact bytes: an object store (S3-compatible) behind a small
// interface, so the shared RegistryStorage (metadata in PostgreSQL) never sees the SDK.
//
// The commit point of a version is its metadata row, written only after every artifact of it
// is complete here. So an artifact becomes readable only at `complete()`, after its digest was
// checked: the S3 store writes a multipart upload (invisible until completed) under a key of its
// own per upload; the file store writes a temporary file and renames it. Uploads that never
// completed are orphans that `sweepOrphans` (or the store's own lifecycle rule) removes.

import type { ReadChunk } from "./storage.ts";

/** Identifies one artifact of one version. Names are already validated (src/registry/names.ts). */
export interface ArtifactKey {
  readonly model: string;
  readonly version: string;
  readonly artifact: string;
}

/** One artifact being written: bytes stream through (multipart), hashed on the way. */
export interface ArtifactWrite {
  /** Appends bytes; resolves when the store can take more (backpressure). May keep `chunk` by reference until complete. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Finishes the upload and places the bytes at their final key. Fails with an
   * ArtifactStoreError of kind "data_loss" when `expectedSha256` (lowercase hex) differs
   * from the bytes received; the temporary object is then removed.
   */
  complete(expectedSha256?: string): Promise<{ readonly sizeBytes: number; readonly sha256: string }>;
  /** Drops the upload and its temporary object; safe to call more than once. */
  abort(): Promise<void>;
}

export interface ArtifactStore {
  beginWrite(key: ArtifactKey, signal?: AbortSignal): Promise<ArtifactWrite>;
  /**
   * Streams an artifact with backpressure, in chunks of at most chunkBytes (each chunk's
   * buffer has `headroom` free bytes before its data). When `expectedSha256` is given, a
   * mismatch found at the end fails the iteration with kind "data_loss".
   */
  read(
    key: ArtifactKey,
    options: { chunkBytes: number; headroom?: number; signal?: AbortSignal; expectedSha256?: string },
  ): AsyncIterable<ReadChunk>;
  /** Deletes a version's artifacts (missing objects are not an error). */
  deleteVersion(model: string, version: string, artifacts: readonly string[]): Promise<void>;
  /** Removes temporary objects older than `olderThanMs`; returns how many. Callers hold the sweep lock. */
  sweepOrphans(olderThanMs: number): Promise<number>;
  close(): Promise<void>;
}

export type ArtifactStoreErrorKind = "data_loss" | "unavailable" | "not_found";

export class ArtifactStoreError extends Error {
  constructor(
    readonly kind: ArtifactStoreErrorKind,
    message: string,
  ) {
    super(message);
  }
}
