// The storage interface of the registry: what a backend must provide so the registry
// service can run on it. fs-storage.ts is the embedded implementation; a shared backend
// (object storage + Redis or a database, see README "Registry storage backends") would
// implement the same interface.
//
// Names and versions arrive already validated (src/registry/names.ts). The backend owns
// the consistency rules that need atomicity: a version is published whole or not at all,
// one version string is registered once, auto-assigned integer versions never collide,
// an alias always points at an existing version, a version with aliases is deleted only
// when forced.

/** One stored file of a version. */
export interface ArtifactRecord {
  readonly name: string;
  readonly sizeBytes: number;
  /** Lowercase hex SHA-256 of the bytes. */
  readonly sha256: string;
}

/** Where a version came from: its parent and what produced it (e.g. the online learner). */
export interface Lineage {
  /** Model the parent version belongs to; empty means the same model. */
  readonly parentName: string;
  /** Version this one was derived from (trained further, fine-tuned, converted); empty for none. */
  readonly parentVersion: string;
  /** What produced this version, e.g. "openloop-online-learner". */
  readonly producer: string;
  /** Training samples that went into this version (0 when not applicable). */
  readonly samplesUsed: number;
  /** Further facts: metrics before and after training, run ids. */
  readonly details: Readonly<Record<string, string>>;
}

/** Everything recorded about a version; stored next to its artifacts. */
export interface VersionRecord {
  readonly model: string;
  readonly version: string;
  /** gguf, linear, onnx, pytorch, tensorflow, or any short token. */
  readonly type: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly lineage: Lineage;
  /** Registration time, milliseconds since the epoch. */
  readonly createdAtMs: number;
  readonly artifacts: readonly ArtifactRecord[];
}

/** What an upload starts with; the version is assigned at commit when not given. */
export type VersionDraft = Omit<VersionRecord, "version" | "createdAtMs" | "artifacts"> & { readonly version?: string };

/** A model and the state of its versions (kept small: listing models must not read every version). */
export interface ModelSummary {
  readonly name: string;
  readonly versionCount: number;
  /** Newest version by version order. */
  readonly latestVersion: string;
  /** Type of the newest version. */
  readonly latestType: string;
  /** Registration time of the newest version. */
  readonly latestCreatedAtMs: number;
  readonly aliases: Readonly<Record<string, string>>;
}

/** A piece of an artifact as read from storage. */
export interface ReadChunk {
  /** The artifact's next bytes. */
  readonly data: Uint8Array;
  /**
   * `data` preceded by the `headroom` bytes asked for, in the same buffer: the caller may write
   * a header there and send header and data as one piece, without copying the data.
   */
  readonly withHeadroom: Uint8Array;
  /**
   * Hands the buffer back for a later chunk, once nothing reads `data` any more. Optional: a
   * chunk that is never released stays valid for good (the reader allocates another buffer).
   */
  release(): void;
}

/** An upload in progress: artifacts are written one after the other, then the version is committed. */
export interface VersionUpload {
  /** Starts the next artifact; the previous one must be finished. */
  beginArtifact(name: string): Promise<void>;
  /**
   * Appends bytes to the current artifact; resolves when the storage can take more (backpressure).
   * The storage may keep `chunk` by reference until the artifact is finished: do not change it.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Ends the current artifact and records its size and SHA-256; fails with "data_loss" when
   * the client's digest (lowercase hex) differs from the bytes received.
   */
  finishArtifact(expectedSha256?: string): Promise<ArtifactRecord>;
  /**
   * Publishes the version atomically: readers see all of it or nothing. An abort of `signal`
   * up to the moment of publishing (the client went away) drops the upload instead.
   */
  commit(signal?: AbortSignal): Promise<VersionRecord>;
  /** Drops everything written so far; safe to call more than once and after commit (then it does nothing). */
  abort(): Promise<void>;
}

export interface RegistryStorage {
  /** Starts an upload; fails early with "already_exists" when the given version is already registered. */
  beginUpload(draft: VersionDraft): Promise<VersionUpload>;
  getVersion(model: string, version: string): Promise<VersionRecord | undefined>;
  /** Versions of a model, unordered (the registry orders them); empty when the model does not exist. */
  listVersionNames(model: string): Promise<string[]>;
  /** Models with at least one version, sorted by name. */
  listModels(): Promise<ModelSummary[]>;
  getModel(model: string): Promise<ModelSummary | undefined>;
  /** Points an alias at an existing version; returns the version it pointed at before, if any. */
  setAlias(model: string, alias: string, version: string): Promise<string | undefined>;
  /** Removes an alias; returns the version it pointed at, or undefined when it did not exist. */
  deleteAlias(model: string, alias: string): Promise<string | undefined>;
  /**
   * Deletes a version. Refuses with "precondition" while aliases point at it unless forced;
   * forced, it removes those aliases too (returned).
   */
  deleteVersion(model: string, version: string, force: boolean): Promise<{ removedAliases: string[] }>;
  /**
   * Streams an artifact's bytes in chunks of at most chunkBytes, stopping when signal aborts;
   * each chunk's buffer has `headroom` free bytes before its data. A chunk stays valid until
   * the caller releases it (ReadChunk.release), after which its buffer may carry a later chunk.
   */
  readArtifact(model: string, version: string, artifact: string, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal }): AsyncIterable<ReadChunk>;
  close(): Promise<void>;
}
