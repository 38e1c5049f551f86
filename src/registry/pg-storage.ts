// Shared registry storage: metadata in PostgreSQL, artifact bytes in an ArtifactStore (object
// storage), so every replica serves the same versions and aliases.
//
// An upload streams each artifact to the store under a key of its own (never the version's: two
// replicas racing to register one version must not overwrite each other's bytes). The version
// row, written in one transaction after every artifact is complete, is the commit point: the
// model row is locked FOR UPDATE, so version numbers, the one-winner rule and scheme checks hold
// across replicas. Reads are served from a per-replica cache that PostgreSQL NOTIFY keeps fresh.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ArtifactStoreError, type ArtifactStore, type ArtifactWrite } from "./artifact-store.js";
import { UploadSequence } from "./upload-sequence.js";
import { RegistryError } from "./errors.js";
import { LIMITS } from "./names.js";
import type { ArtifactRecord, ModelSummary, ReadChunk, RegistryStorage, VersionDraft, VersionRecord, VersionUpload } from "./storage.js";
import { compareVersions, tryParseVersion } from "./version-order.js";
import { checkAutoVersionAllowed, checkVersionFree } from "./version-rules.js";
import { SharedCache } from "../platform/postgres/cache.js";
import type { ChangeListener } from "../platform/postgres/changes.js";
import type { PgDatabase, Queryable } from "../platform/postgres/database.js";
import { isUniqueViolation } from "../platform/postgres/errors.js";

const TOPIC = "registry";

export interface PgStorageOptions {
  readonly maxArtifactBytes: number;
  /** Uploads running at once on this replica; more get "too_large" (RESOURCE_EXHAUSTED). */
  readonly maxConcurrentUploads: number;
  /** Check each artifact's SHA-256 while it is read back. */
  readonly verifyOnRead: boolean;
  /** Safety net of the read cache, in milliseconds. */
  readonly cacheTtlMs: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

interface StoredVersion {
  readonly record: VersionRecord;
  /** The artifact store's version slot for this version's bytes. */
  readonly blobKey: string;
}

type Cached = { summary: ModelSummary } | { version: StoredVersion };

export class PgRegistryStorage implements RegistryStorage {
  private readonly cache: SharedCache<Cached>;
  private readonly uploads = new Set<PgVersionUpload>();
  private readonly unsubscribe: () => void;
  private readonly now: () => number;
  private closed = false;

  constructor(
    private readonly db: PgDatabase,
    private readonly changes: ChangeListener,
    /** @internal */ readonly artifacts: ArtifactStore,
    /** @internal */ readonly options: PgStorageOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.cache = new SharedCache<Cached>({ ttlMs: options.cacheTtlMs, max: 10_000, now: options.now });
    this.unsubscribe = changes.subscribe(TOPIC, (model) => this.cache.invalidate(model));
  }

  private assertOpen(): void {
    if (this.closed) throw new RegistryError("precondition", "the registry is shutting down");
  }

  async beginUpload(draft: VersionDraft): Promise<VersionUpload> {
    this.assertOpen();
    if (draft.version !== undefined) {
      const { rows } = await this.db.query<{ version: string }>("SELECT version FROM registry_versions WHERE model = $1", [draft.model]);
      checkVersionFree(draft.model, draft.version, rows.map((r) => r.version));
    }
    if (this.uploads.size >= this.options.maxConcurrentUploads) {
      throw new RegistryError("too_large", `too many uploads in progress (at most ${this.options.maxConcurrentUploads}); retry later`);
    }
    const upload = new PgVersionUpload(this, draft, randomUUID());
    this.uploads.add(upload);
    return upload;
  }

  /** @internal */
  forget(upload: PgVersionUpload): void {
    this.uploads.delete(upload);
  }

  /** @internal the commit point: one transaction, the model row locked against every other replica. */
  async publish(draft: VersionDraft, blobKey: string, artifacts: ArtifactRecord[], signal?: AbortSignal): Promise<VersionRecord> {
    this.assertOpen();
    const record = await this.db.transaction(async (tx) => {
      await tx.query("INSERT INTO registry_models (name) VALUES ($1) ON CONFLICT DO NOTHING", [draft.model]);
      const { rows: modelRows } = await tx.query<{ highest_integer: string }>("SELECT highest_integer FROM registry_models WHERE name = $1 FOR UPDATE", [draft.model]);
      const highest = BigInt(modelRows[0]!.highest_integer);
      const { rows } = await tx.query<{ version: string }>("SELECT version FROM registry_versions WHERE model = $1", [draft.model]);
      const existing = rows.map((r) => r.version);
      let version = draft.version;
      if (version === undefined) {
        checkAutoVersionAllowed(draft.model, existing.length ? tryParseVersion(existing[0]!)?.scheme : undefined);
        version = String(highest + 1n);
      } else {
        checkVersionFree(draft.model, version, existing);
      }
      const { version: _omit, ...rest } = draft;
      const record: VersionRecord = { ...rest, model: draft.model, version, createdAtMs: this.now(), artifacts };
      signal?.throwIfAborted();
      try {
        await tx.query(
          "INSERT INTO registry_versions (model, version, version_lower, type, created_at_ms, blob_key, record) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          [draft.model, version, version.toLowerCase(), record.type, record.createdAtMs, blobKey, JSON.stringify(record)],
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw new RegistryError("already_exists", `model '${draft.model}' already has version '${version}'`);
        throw err;
      }
      const parsed = tryParseVersion(version)!;
      if (parsed.scheme === "integer" && parsed.numbers[0]! > highest) {
        await tx.query("UPDATE registry_models SET highest_integer = $2 WHERE name = $1", [draft.model, String(parsed.numbers[0]!)]);
      }
      await this.changes.notify(tx, TOPIC, draft.model);
      return record;
    });
    this.cache.invalidate(draft.model);
    return record;
  }

  private async stored(model: string, version: string): Promise<StoredVersion | undefined> {
    const cached = await this.cache.get(model, `v:${version}`, async () => {
      const { rows } = await this.db.query<{ record: VersionRecord; blob_key: string }>("SELECT record, blob_key FROM registry_versions WHERE model = $1 AND version = $2", [model, version]);
      return rows[0] ? { version: { record: rows[0].record, blobKey: rows[0].blob_key } } : undefined;
    });
    return cached && "version" in cached ? cached.version : undefined;
  }

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    return (await this.stored(model, version))?.record;
  }

  async listVersionNames(model: string): Promise<string[]> {
    const { rows } = await this.db.query<{ version: string }>("SELECT version FROM registry_versions WHERE model = $1", [model]);
    return rows.map((r) => r.version);
  }

  async listModels(): Promise<ModelSummary[]> {
    const [versions, aliases] = await Promise.all([
      this.db.query<VersionRow & { model: string }>("SELECT model, version, type, created_at_ms FROM registry_versions"),
      this.db.query<{ model: string; alias: string; version: string }>("SELECT model, alias, version FROM registry_aliases"),
    ]);
    const byModel = new Map<string, { versions: VersionRow[]; aliases: Record<string, string> }>();
    const of = (m: string) => byModel.get(m) ?? byModel.set(m, { versions: [], aliases: {} }).get(m)!;
    for (const v of versions.rows) of(v.model).versions.push(v);
    for (const a of aliases.rows) of(a.model).aliases[a.alias] = a.version;
    const out: ModelSummary[] = [];
    for (const name of [...byModel.keys()].sort()) {
      const s = summarize(name, byModel.get(name)!.versions, byModel.get(name)!.aliases);
      if (s) out.push(s);
    }
    return out;
  }

  async getModel(model: string): Promise<ModelSummary | undefined> {
    const cached = await this.cache.get(model, "summary", async () => {
      const [versions, aliases] = await Promise.all([
        this.db.query<VersionRow>("SELECT version, type, created_at_ms FROM registry_versions WHERE model = $1", [model]),
        this.db.query<{ alias: string; version: string }>("SELECT alias, version FROM registry_aliases WHERE model = $1", [model]),
      ]);
      const summary = summarize(model, versions.rows, Object.fromEntries(aliases.rows.map((a) => [a.alias, a.version])));
      return summary ? { summary } : undefined;
    });
    return cached && "summary" in cached ? cached.summary : undefined;
  }

  async setAlias(model: string, alias: string, version: string): Promise<string | undefined> {
    this.assertOpen();
    const previous = await this.db.transaction(async (tx) => {
      // The version row locked: a concurrent delete of it waits for this move, or this move sees it gone.
      const { rowCount } = await tx.query("SELECT 1 FROM registry_versions WHERE model = $1 AND version = $2 FOR SHARE", [model, version]);
      if (!rowCount) throw new RegistryError("not_found", `model '${model}' has no version '${version}'`);
      const { rows } = await tx.query<{ version: string }>("SELECT version FROM registry_aliases WHERE model = $1 AND alias = $2 FOR UPDATE", [model, alias]);
      await tx.query(
        "INSERT INTO registry_aliases (model, alias, version) VALUES ($1, $2, $3) ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version",
        [model, alias, version],
      );
      await this.changes.notify(tx, TOPIC, model);
      return rows[0]?.version;
    });
    this.cache.invalidate(model);
    return previous;
  }

  async deleteAlias(model: string, alias: string): Promise<string | undefined> {
    this.assertOpen();
    const previous = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ version: string }>("DELETE FROM registry_aliases WHERE model = $1 AND alias = $2 RETURNING version", [model, alias]);
      if (rows[0]) await this.changes.notify(tx, TOPIC, model);
      return rows[0]?.version;
    });
    this.cache.invalidate(model);
    return previous;
  }

  async deleteVersion(model: string, version: string, force: boolean): Promise<{ removedAliases: string[] }> {
    this.assertOpen();
    const { removedAliases, blobKey, artifacts } = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ blob_key: string; record: VersionRecord }>("SELECT blob_key, record FROM registry_versions WHERE model = $1 AND version = $2 FOR UPDATE", [model, version]);
      if (!rows[0]) throw new RegistryError("not_found", `model '${model}' has no version '${version}'`);
      const pointing = (await tx.query<{ alias: string }>("SELECT alias FROM registry_aliases WHERE model = $1 AND version = $2 ORDER BY alias FOR UPDATE", [model, version])).rows.map((r) => r.alias);
      if (pointing.length > 0 && !force) {
        throw new RegistryError(
          "precondition",
          `version '${version}' of model '${model}' is referenced by alias${pointing.length > 1 ? "es" : ""} ${pointing.map((a) => `'${a}'`).join(", ")}; move or delete the alias first, or delete with force`,
        );
      }
      await tx.query("DELETE FROM registry_aliases WHERE model = $1 AND version = $2", [model, version]);
      await tx.query("DELETE FROM registry_versions WHERE model = $1 AND version = $2", [model, version]);
      await this.changes.notify(tx, TOPIC, model);
      return { removedAliases: pointing, blobKey: rows[0].blob_key, artifacts: rows[0].record.artifacts.map((a) => a.name) };
    });
    this.cache.invalidate(model);
    // After the commit: a failure here leaves unreferenced bytes, never a version without its bytes.
    await this.artifacts.deleteVersion(model, blobKey, artifacts).catch((err: unknown) => {
      this.options.log?.warn({ model, version, err: (err as Error).message }, "registry: the deleted version's artifacts could not be removed from the artifact store");
    });
    return { removedAliases };
  }

  async *readArtifact(model: string, version: string, artifact: string, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal }): AsyncGenerator<ReadChunk> {
    const stored = await this.stored(model, version);
    const meta = stored?.record.artifacts.find((a) => a.name === artifact);
    if (!stored || !meta) throw new RegistryError("not_found", `version '${version}' of model '${model}' has no artifact '${artifact}'`);
    try {
      yield* this.artifacts.read(
        { model, version: stored.blobKey, artifact },
        { ...options, expectedSha256: this.options.verifyOnRead ? meta.sha256 : undefined },
      );
    } catch (err) {
      throw fromArtifactStore(err, `artifact '${artifact}' of ${model}@${version}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    await Promise.all([...this.uploads].map((u) => u.abort()));
  }
}

interface VersionRow {
  version: string;
  type: string;
  created_at_ms: string;
}

function summarize(name: string, versions: VersionRow[], aliases: Record<string, string>): ModelSummary | undefined {
  let latest: { row: VersionRow; parsed: NonNullable<ReturnType<typeof tryParseVersion>> } | undefined;
  for (const row of versions) {
    const parsed = tryParseVersion(row.version);
    if (parsed && (!latest || compareVersions(parsed, latest.parsed) > 0)) latest = { row, parsed };
  }
  if (!latest) return undefined;
  return {
    name,
    versionCount: versions.length,
    latestVersion: latest.row.version,
    latestType: latest.row.type,
    latestCreatedAtMs: Number(latest.row.created_at_ms),
    aliases,
  };
}

/** Artifact store failures in the registry's terms: DATA_LOSS, NOT_FOUND, UNAVAILABLE. */
function fromArtifactStore(err: unknown, what: string): unknown {
  if (!(err instanceof ArtifactStoreError)) return err;
  if (err.kind === "data_loss") return new RegistryError("data_loss", `${what}: ${err.message}`);
  if (err.kind === "not_found") return new RegistryError("not_found", `${what} is missing from the artifact store`);
  return new ConnectError(`the artifact store is unavailable: ${err.message.slice(0, 200)}; retry shortly`, Code.Unavailable);
}

class PgVersionUpload implements VersionUpload {
  private readonly done: ArtifactRecord[] = [];
  private current: { name: string; write: ArtifactWrite; size: number } | undefined;
  private readonly sequence = new UploadSequence();

  constructor(
    private readonly storage: PgRegistryStorage,
    private readonly draft: VersionDraft,
    private readonly blobKey: string,
  ) {}

  async beginArtifact(name: string): Promise<void> {
    this.sequence.admit(name, this.current?.name);
    try {
      const write = await this.storage.artifacts.beginWrite({ model: this.draft.model, version: this.blobKey, artifact: name });
      this.current = { name, write, size: 0 };
    } catch (err) {
      throw fromArtifactStore(err, `artifact '${name}'`);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.sequence.assertOpen();
    const cur = this.current;
    if (!cur) throw new RegistryError("precondition", "artifact bytes arrived before any artifact was started");
    cur.size += chunk.byteLength;
    const max = this.storage.options.maxArtifactBytes;
    if (cur.size > max) {
      throw new RegistryError("too_large", `artifact '${cur.name}' exceeds the maximum artifact size of ${max} bytes (got at least ${cur.size}); raise registry.maxArtifactBytes to accept it`);
    }
    try {
      await cur.write.write(chunk);
    } catch (err) {
      throw fromArtifactStore(err, `artifact '${cur.name}'`);
    }
  }

  async finishArtifact(expectedSha256?: string): Promise<ArtifactRecord> {
    this.sequence.assertOpen();
    const cur = this.current;
    if (!cur) throw new RegistryError("precondition", "no artifact is open");
    this.current = undefined;
    let written: { sizeBytes: number; sha256: string };
    try {
      written = await cur.write.complete(expectedSha256);
    } catch (err) {
      await cur.write.abort().catch(() => undefined);
      if (err instanceof ArtifactStoreError && err.kind === "data_loss") {
        throw new RegistryError("data_loss", `artifact '${cur.name}': ${err.message}; the bytes changed in transit or the digest is wrong`);
      }
      throw fromArtifactStore(err, `artifact '${cur.name}'`);
    }
    const record = { name: cur.name, sizeBytes: written.sizeBytes, sha256: written.sha256 };
    this.done.push(record);
    return record;
  }

  async commit(signal?: AbortSignal): Promise<VersionRecord> {
    this.sequence.assertOpen();
    try {
      if (this.current) throw new RegistryError("precondition", `artifact '${this.current.name}' is still open; finish it before committing`);
      const record = await this.storage.publish(this.draft, this.blobKey, [...this.done], signal);
      this.sequence.committed();
      this.storage.forget(this);
      return record;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (!this.sequence.abort()) return;
    const cur = this.current;
    this.current = undefined;
    await cur?.write.abort().catch(() => undefined);
    if (this.done.length) {
      await this.storage.artifacts.deleteVersion(this.draft.model, this.blobKey, this.done.map((a) => a.name)).catch(() => undefined);
    }
    this.storage.forget(this);
  }
}
