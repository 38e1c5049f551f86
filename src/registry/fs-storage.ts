// Embedded registry storage on the local filesystem.
//
// Layout under the root directory:
//   lock.json                                   pid and host of the server using this directory
//   tmp/<id>/                                   uploads in progress and versions being deleted (wiped at start)
//   models/<model>/model.json                   per-model state (highest integer version ever assigned)
//   models/<model>/aliases.json                 alias -> version, replaced atomically
//   models/<model>/versions/<version>/version.json   the version record
//   models/<model>/versions/<version>/artifacts/<artifact>
//
// An upload writes into tmp/<id>/, fsyncs every file and directory, checks sizes, then renames
// the whole directory to models/<model>/versions/<version>/ under a per-model lock: a crash or a
// cancel leaves nothing but a temp dir, readers never see a partial version, and a second
// registration of the same version fails because the target already exists. The in-memory index
// is rebuilt from the directory tree at start.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { ArtifactFileWriter, countAndHashChunks, readChunks } from "./artifact-io.js";
import { createArtifactFile, openArtifactFile } from "./direct-io.js";
import { UploadSequence } from "./upload-sequence.js";
import { RegistryError } from "./errors.js";
import { LIMITS, validateAlias, validateArtifactName, validateModelName } from "./names.js";
import type { ArtifactRecord, ModelSummary, ReadChunk, RegistryStorage, VersionDraft, VersionRecord, VersionUpload } from "./storage.js";
import { compareVersions, tryParseVersion, type ParsedVersion, type VersionScheme } from "./version-order.js";
import { checkAutoVersionAllowed, checkVersionFree } from "./version-rules.js";
import { replaceFileAtomic, syncDir, writeFileSynced } from "../platform/durable-file.js";

export interface FsStorageOptions {
  /** Root directory; created when missing. */
  readonly root: string;
  /** Largest artifact accepted, in bytes. */
  readonly maxArtifactBytes: number;
  /** Uploads running at once; more get "too_large" (RESOURCE_EXHAUSTED) at once. */
  readonly maxConcurrentUploads: number;
  /** Check each artifact's SHA-256 while it is read back; a mismatch ends the download with "data_loss". */
  readonly verifyOnRead: boolean;
  /** Artifact files with O_DIRECT where the filesystem allows it (registry.directIo); default true. */
  readonly directIo?: boolean;
  readonly log?: Logger;
  readonly now?: () => number;
}

interface IndexedVersion {
  readonly parsed: ParsedVersion;
  readonly type: string;
  readonly createdAtMs: number;
}

interface ModelEntry {
  readonly versions: Map<string, IndexedVersion>;
  readonly aliases: Map<string, string>;
  /** Highest integer version ever assigned or registered; auto-assignment never reuses a number. */
  highestInteger: bigint;
}

const RECORD_FILE = "version.json";
const ALIASES_FILE = "aliases.json";
const MODEL_FILE = "model.json";
const LOCK_FILE = "lock.json";
// Received bytes that may wait for the disk per upload; past this the client waits. Large
// enough that chunks gather into big writev batches while one is in flight, small enough that
// many uploads at once stay within memory.
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
const FORMAT = 1;

export class FsRegistryStorage implements RegistryStorage {
  private readonly models = new Map<string, ModelEntry>();
  private readonly records = new LRUCache<string, VersionRecord>({ max: 1024 });
  private readonly locks = new KeyedMutex();
  private readonly uploads = new Set<FsVersionUpload>();
  private readonly tmpDir: string;
  private readonly modelsDir: string;
  private readonly now: () => number;
  private closed = false;

  private constructor(readonly options: FsStorageOptions) {
    this.tmpDir = path.join(options.root, "tmp");
    this.modelsDir = path.join(options.root, "models");
    this.now = options.now ?? Date.now;
  }

  /** Opens (creating when needed) the registry at options.root, cleans stale temp dirs and rebuilds the index. */
  static async open(options: FsStorageOptions): Promise<FsRegistryStorage> {
    const s = new FsRegistryStorage({ ...options, root: path.resolve(options.root) });
    await s.recover();
    return s;
  }

  /**
   * One process per registry directory: the index and the per-model locks live in memory, so a
   * second server on the same directory could assign the same integer version twice.
   */
  private async acquireDirLock(): Promise<void> {
    await mkdir(this.options.root, { recursive: true });
    for (const f of await readdirOrEmpty(this.options.root)) {
      if (f.startsWith(".") && f.endsWith(".tmp")) await rm(path.join(this.options.root, f), { force: true });
    }
    const file = path.join(this.options.root, LOCK_FILE);
    const holder = await readJson<{ pid?: number; host?: string }>(file);
    if (holder?.pid && holder.pid !== process.pid && holder.host === os.hostname() && processAlive(holder.pid)) {
      throw new Error(`registry directory ${this.options.root} is in use by process ${holder.pid} on this host; run one server per registry directory (see README: a shared backend for several replicas)`);
    }
    if (holder) this.options.log?.warn({ file, holder }, "registry: taking over the lock of a server that is no longer running");
    await replaceFileAtomic(file, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() }));
  }

  private async releaseDirLock(): Promise<void> {
    const file = path.join(this.options.root, LOCK_FILE);
    const holder = await readJson<{ pid?: number; host?: string }>(file).catch(() => undefined);
    if (holder?.pid === process.pid && holder.host === os.hostname()) await rm(file, { force: true });
  }

  private async recover(): Promise<void> {
    await this.acquireDirLock();
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.modelsDir, { recursive: true });
    for (const model of await readdirOrEmpty(this.modelsDir)) {
      if (!isValid(() => validateModelName(model))) {
        this.options.log?.warn({ dir: path.join(this.modelsDir, model) }, "registry: ignoring a directory whose name is not a model name");
        continue;
      }
      for (const f of await readdirOrEmpty(this.modelDir(model))) {
        if (f.startsWith(".") && f.endsWith(".tmp")) await rm(path.join(this.modelDir(model), f), { force: true });
      }
      const entry: ModelEntry = { versions: new Map(), aliases: new Map(), highestInteger: 0n };
      const state = await readJson<{ highestInteger?: string }>(path.join(this.modelDir(model), MODEL_FILE));
      if (state?.highestInteger && /^[0-9]+$/.test(state.highestInteger)) entry.highestInteger = BigInt(state.highestInteger);
      for (const version of await readdirOrEmpty(path.join(this.modelDir(model), "versions"))) {
        const record = await this.loadRecord(model, version);
        if (!record) continue;
        const parsed = tryParseVersion(version)!;
        entry.versions.set(version, { parsed, type: record.type, createdAtMs: record.createdAtMs });
        if (parsed.scheme === "integer" && parsed.numbers[0]! > entry.highestInteger) entry.highestInteger = parsed.numbers[0]!;
      }
      const aliases = (await readJson<Record<string, string>>(path.join(this.modelDir(model), ALIASES_FILE))) ?? {};
      for (const [alias, version] of Object.entries(aliases)) {
        if (isValid(() => validateAlias(alias)) && entry.versions.has(version)) entry.aliases.set(alias, version);
        else this.options.log?.warn({ model, alias, version }, "registry: dropping an alias that is malformed or points at a missing version");
      }
      this.models.set(model, entry);
    }
  }

  /** Reads and checks a version directory at start; a version that does not check out is skipped, loudly. */
  private async loadRecord(model: string, version: string): Promise<VersionRecord | undefined> {
    const dir = this.versionDir(model, version);
    const warn = (why: string) => {
      this.options.log?.error({ dir, why }, "registry: skipping a version directory that does not check out");
      return undefined;
    };
    if (!tryParseVersion(version)) return warn("directory name is not a version");
    const record = await readJson<VersionRecord & { format?: number }>(path.join(dir, RECORD_FILE));
    if (!record) return warn(`missing or unreadable ${RECORD_FILE}`);
    if (record.model !== model || record.version !== version) return warn("record names another model or version");
    for (const a of record.artifacts) {
      if (!isValid(() => validateArtifactName(a.name))) return warn(`bad artifact name ${JSON.stringify(a.name)}`);
      const st = await stat(path.join(dir, "artifacts", a.name)).catch(() => undefined);
      if (!st || st.size !== a.sizeBytes) return warn(`artifact ${a.name} is missing or has the wrong size`);
    }
    const { format: _format, ...clean } = record;
    return clean;
  }

  private modelDir(model: string): string {
    return path.join(this.modelsDir, model);
  }

  private versionDir(model: string, version: string): string {
    return path.join(this.modelsDir, model, "versions", version);
  }

  private assertOpen(): void {
    if (this.closed) throw new RegistryError("precondition", "the registry is shutting down");
  }

  async beginUpload(draft: VersionDraft): Promise<VersionUpload> {
    this.assertOpen();
    if (draft.version !== undefined) this.checkVersionFree(draft.model, draft.version);
    if (this.uploads.size >= this.options.maxConcurrentUploads) {
      throw new RegistryError("too_large", `too many uploads in progress (at most ${this.options.maxConcurrentUploads}); retry later`);
    }
    const dir = path.join(this.tmpDir, `upload-${randomUUID()}`);
    await mkdir(path.join(dir, "artifacts"), { recursive: true });
    const upload = new FsVersionUpload(this, draft, dir);
    this.uploads.add(upload);
    return upload;
  }

  /** @internal called by uploads when they finish either way. */
  forget(upload: FsVersionUpload): void {
    this.uploads.delete(upload);
  }

  private checkVersionFree(model: string, version: string): void {
    const entry = this.models.get(model);
    if (entry) checkVersionFree(model, version, entry.versions.keys());
  }

  /** @internal publishes an upload whose files are complete and synced. */
  async publish(draft: VersionDraft, tmp: string, artifacts: ArtifactRecord[], signal?: AbortSignal): Promise<VersionRecord> {
    this.assertOpen();
    return this.locks.run(draft.model, async () => {
      const entry = this.models.get(draft.model);
      let version = draft.version;
      if (version === undefined) {
        checkAutoVersionAllowed(draft.model, entry && schemeOf(entry));
        version = String((entry?.highestInteger ?? 0n) + 1n);
      } else {
        this.checkVersionFree(draft.model, version);
      }
      const { version: _omit, ...rest } = draft;
      const record: VersionRecord = { ...rest, model: draft.model, version, createdAtMs: this.now(), artifacts };
      await writeFileSynced(path.join(tmp, RECORD_FILE), JSON.stringify({ format: FORMAT, ...record }, null, 2));
      await syncDir(tmp);
      const versionsDir = path.join(this.modelDir(draft.model), "versions");
      await mkdir(versionsDir, { recursive: true });
      const target = path.join(versionsDir, version);
      // Last moment to honour a cancel: a client that half-closes and then resets (some gRPC
      // clients do this on abort) looks complete until its reset arrives, usually during the fsyncs above.
      signal?.throwIfAborted();
      try {
        // rename(2) onto an existing non-empty directory fails: the last guard against a second writer.
        await rename(tmp, target);
      } catch (err) {
        if (isErrno(err, "ENOTEMPTY") || isErrno(err, "EEXIST")) {
          throw new RegistryError("already_exists", `model '${draft.model}' already has version '${version}'`);
        }
        throw err;
      }
      await syncDir(versionsDir);
      await syncDir(this.modelDir(draft.model));
      await syncDir(this.modelsDir);
      const e = entry ?? { versions: new Map(), aliases: new Map(), highestInteger: 0n };
      if (!entry) this.models.set(draft.model, e);
      const parsed = tryParseVersion(version)!;
      e.versions.set(version, { parsed, type: record.type, createdAtMs: record.createdAtMs });
      if (parsed.scheme === "integer" && parsed.numbers[0]! > e.highestInteger) {
        e.highestInteger = parsed.numbers[0]!;
        await this.writeModelState(draft.model, e);
      }
      this.records.set(`${draft.model}@${version}`, record);
      return record;
    });
  }

  private async writeModelState(model: string, entry: ModelEntry): Promise<void> {
    await replaceFileAtomic(path.join(this.modelDir(model), MODEL_FILE), JSON.stringify({ format: FORMAT, highestInteger: String(entry.highestInteger) }));
  }

  private async writeAliases(model: string, aliases: Map<string, string>): Promise<void> {
    const sorted = Object.fromEntries([...aliases.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await replaceFileAtomic(path.join(this.modelDir(model), ALIASES_FILE), JSON.stringify(sorted, null, 2));
  }

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    if (!this.models.get(model)?.versions.has(version)) return undefined;
    const key = `${model}@${version}`;
    const cached = this.records.get(key);
    if (cached) return cached;
    const record = await readJson<VersionRecord & { format?: number }>(path.join(this.versionDir(model, version), RECORD_FILE));
    if (!record) return undefined; // deleted meanwhile
    const { format: _format, ...clean } = record;
    this.records.set(key, clean);
    return clean;
  }

  async listVersionNames(model: string): Promise<string[]> {
    return [...(this.models.get(model)?.versions.keys() ?? [])];
  }

  async listModels(): Promise<ModelSummary[]> {
    const names = [...this.models.keys()].sort();
    const out: ModelSummary[] = [];
    for (const n of names) {
      const s = summarize(n, this.models.get(n)!);
      if (s) out.push(s);
    }
    return out;
  }

  async getModel(model: string): Promise<ModelSummary | undefined> {
    const entry = this.models.get(model);
    return entry ? summarize(model, entry) : undefined;
  }

  async setAlias(model: string, alias: string, version: string): Promise<string | undefined> {
    this.assertOpen();
    return this.locks.run(model, async () => {
      const entry = this.models.get(model);
      if (!entry?.versions.has(version)) throw new RegistryError("not_found", `model '${model}' has no version '${version}'`);
      const previous = entry.aliases.get(alias);
      if (previous === version) return previous;
      const next = new Map(entry.aliases).set(alias, version);
      await this.writeAliases(model, next);
      entry.aliases.set(alias, version);
      return previous;
    });
  }

  async deleteAlias(model: string, alias: string): Promise<string | undefined> {
    this.assertOpen();
    return this.locks.run(model, async () => {
      const entry = this.models.get(model);
      const previous = entry?.aliases.get(alias);
      if (!entry || previous === undefined) return undefined;
      const next = new Map(entry.aliases);
      next.delete(alias);
      await this.writeAliases(model, next);
      entry.aliases.delete(alias);
      return previous;
    });
  }

  async deleteVersion(model: string, version: string, force: boolean): Promise<{ removedAliases: string[] }> {
    this.assertOpen();
    return this.locks.run(model, async () => {
      const entry = this.models.get(model);
      if (!entry?.versions.has(version)) throw new RegistryError("not_found", `model '${model}' has no version '${version}'`);
      const pointing = [...entry.aliases.entries()].filter(([, v]) => v === version).map(([a]) => a).sort();
      if (pointing.length > 0 && !force) {
        throw new RegistryError(
          "precondition",
          `version '${version}' of model '${model}' is referenced by alias${pointing.length > 1 ? "es" : ""} ${pointing.map((a) => `'${a}'`).join(", ")}; move or delete the alias first, or delete with force`,
        );
      }
      if (pointing.length > 0) {
        const next = new Map(entry.aliases);
        for (const a of pointing) next.delete(a);
        await this.writeAliases(model, next);
        for (const a of pointing) entry.aliases.delete(a);
      }
      // Rename out of the tree first (atomic), then remove at leisure; a crash leaves only a temp dir.
      const trash = path.join(this.tmpDir, `deleted-${randomUUID()}`);
      await rename(this.versionDir(model, version), trash);
      await syncDir(path.join(this.modelDir(model), "versions"));
      entry.versions.delete(version);
      this.records.delete(`${model}@${version}`);
      await rm(trash, { recursive: true, force: true });
      return { removedAliases: pointing };
    });
  }

  async *readArtifact(model: string, version: string, artifact: string, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal }): AsyncGenerator<ReadChunk> {
    const record = await this.getVersion(model, version);
    const meta = record?.artifacts.find((a) => a.name === artifact);
    if (!record || !meta) throw new RegistryError("not_found", `version '${version}' of model '${model}' has no artifact '${artifact}'`);
    let fh: FileHandle;
    let direct: boolean;
    try {
      ({ fh, direct } = await openArtifactFile(path.join(this.versionDir(model, version), "artifacts", artifact), { direct: this.options.directIo !== false }));
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new RegistryError("not_found", `version '${version}' of model '${model}' was deleted`);
      throw err;
    }
    // The open descriptor keeps the bytes readable even if the version is deleted meanwhile.
    try {
      const read = yield* countAndHashChunks(readChunks(fh, meta.sizeBytes, { ...options, direct }), { hash: this.options.verifyOnRead, sizeBytes: meta.sizeBytes });
      if (read.bytes !== meta.sizeBytes) {
        throw new RegistryError("data_loss", `artifact '${artifact}' of ${model}@${version} is ${read.bytes} bytes on disk, ${meta.sizeBytes} were registered`);
      }
      if (read.sha256 !== undefined && read.sha256 !== meta.sha256) {
        throw new RegistryError("data_loss", `artifact '${artifact}' of ${model}@${version} no longer matches its registered SHA-256; the stored file is corrupt`);
      }
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.uploads].map((u) => u.abort()));
    await this.releaseDirLock();
  }

  /** @internal */
  get maxArtifactBytes(): number {
    return this.options.maxArtifactBytes;
  }
}

function schemeOf(entry: ModelEntry): VersionScheme | undefined {
  for (const v of entry.versions.values()) return v.parsed.scheme;
  return undefined;
}

function summarize(name: string, entry: ModelEntry): ModelSummary | undefined {
  let latest: IndexedVersion | undefined;
  for (const v of entry.versions.values()) {
    if (!latest || compareVersions(v.parsed, latest.parsed) > 0) latest = v;
  }
  if (!latest) return undefined;
  return {
    name,
    versionCount: entry.versions.size,
    latestVersion: latest.parsed.text,
    latestType: latest.type,
    latestCreatedAtMs: latest.createdAtMs,
    aliases: Object.fromEntries(entry.aliases),
  };
}

class FsVersionUpload implements VersionUpload {
  private readonly done: ArtifactRecord[] = [];
  private current: { name: string; fh: FileHandle; writer: ArtifactFileWriter } | undefined;
  private readonly sequence = new UploadSequence();

  constructor(
    private readonly storage: FsRegistryStorage,
    private readonly draft: VersionDraft,
    private readonly dir: string,
  ) {}

  async beginArtifact(name: string): Promise<void> {
    this.sequence.admit(name, this.current?.name);
    const { fh, direct } = await createArtifactFile(path.join(this.dir, "artifacts", name), { direct: this.storage.options.directIo !== false });
    this.current = { name, fh, writer: new ArtifactFileWriter(fh, WRITE_BEHIND_BYTES, direct) };
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.sequence.assertOpen();
    const cur = this.current;
    if (!cur) throw new RegistryError("precondition", "artifact bytes arrived before any artifact was started");
    const size = cur.writer.size + chunk.byteLength;
    if (size > this.storage.maxArtifactBytes) throw tooLarge(cur.name, size, this.storage.maxArtifactBytes);
    await cur.writer.write(chunk);
  }

  async finishArtifact(expectedSha256?: string): Promise<ArtifactRecord> {
    this.sequence.assertOpen();
    const cur = this.current;
    if (!cur) throw new RegistryError("precondition", "no artifact is open");
    this.current = undefined;
    let written: { sizeBytes: number; sha256: string };
    try {
      // The one flush to disk of this artifact: it is durable before the version is published.
      written = await cur.writer.finish();
    } finally {
      await cur.writer.abandon();
      await cur.fh.close();
    }
    const { sizeBytes, sha256 } = written;
    if (expectedSha256 !== undefined && expectedSha256 !== sha256) {
      throw new RegistryError(
        "data_loss",
        `artifact '${cur.name}' has SHA-256 ${sha256} over the ${sizeBytes} bytes received, the client said ${expectedSha256}; the bytes changed in transit or the digest is wrong`,
      );
    }
    const record = { name: cur.name, sizeBytes, sha256 };
    this.done.push(record);
    return record;
  }

  async commit(signal?: AbortSignal): Promise<VersionRecord> {
    this.sequence.assertOpen();
    try {
      if (this.current) throw new RegistryError("precondition", `artifact '${this.current.name}' is still open; finish it before committing`);
      // Verify what is on disk before publishing: every artifact present with the size we hashed.
      for (const a of this.done) {
        const st = await stat(path.join(this.dir, "artifacts", a.name));
        if (st.size !== a.sizeBytes) throw new RegistryError("data_loss", `artifact '${a.name}' is ${st.size} bytes on disk, ${a.sizeBytes} were received`);
      }
      await syncDir(path.join(this.dir, "artifacts"));
      const record = await this.storage.publish(this.draft, this.dir, [...this.done], signal);
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
    if (cur) {
      await cur.writer.abandon();
      await cur.fh.close().catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
    this.storage.forget(this);
  }
}

function tooLarge(name: string, size: number, max: number): RegistryError {
  return new RegistryError("too_large", `artifact '${name}' exceeds the maximum artifact size of ${max} bytes (got at least ${size}); raise registry.maxArtifactBytes to accept it`);
}

/** Serialises async work per key; idle keys hold no memory. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return [];
    throw err;
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM"); // exists, owned by someone else
  }
}

function isValid(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
