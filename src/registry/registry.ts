// The registry's domain logic over a RegistryStorage: validation of every input, version and
// alias resolution, newest-first ordering, pagination tokens, and streaming registration.
// Plain TypeScript; src/registry/service.ts adapts it to the generated proto types.
import { RegistryError, ValidationError } from "./errors.js";
import { withIdleTimeout } from "./idle-timeout.js";
import {
  LATEST,
  LIMITS,
  validateAlias,
  validateArtifactName,
  validateMetadata,
  validateModelName,
  validateModelType,
  validateSha256Hex,
  validateTags,
  validateText,
  validateVersion,
} from "./names.js";
import type { ArtifactRecord, Lineage, ModelSummary, ReadChunk, RegistryStorage, VersionDraft, VersionRecord } from "./storage.js";
import { compareVersions, parseVersion } from "./version-order.js";

/** What a client sends to describe a new version (unvalidated). */
export interface VersionHeaderInput {
  name: string;
  /** Empty: the next integer version. */
  version: string;
  type: string;
  metadata: Record<string, string>;
  tags: string[];
  description: string;
  lineage?: Partial<Lineage>;
}

/** One piece of an upload stream (unvalidated). */
export interface ChunkInput {
  artifactName: string;
  data: Uint8Array;
  /** Expected lowercase hex SHA-256 of the whole artifact; empty when not given. */
  sha256: string;
}

/** Which version of a model: exactly one of version or alias, or neither for the latest. */
export interface Selector {
  version?: string;
  alias?: string;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface RegistryOptions {
  /** An upload that sends nothing for this long is dropped ("stalled"), freeing its slot. */
  readonly uploadIdleTimeoutMs: number;
}

export class Registry {
  constructor(
    private readonly storage: RegistryStorage,
    private readonly options: RegistryOptions,
  ) {}

  /** Validates a header into the draft the storage takes. */
  static draftFrom(header: VersionHeaderInput): VersionDraft {
    const lineage = header.lineage ?? {};
    const parentName = lineage.parentName ?? "";
    const parentVersion = lineage.parentVersion ?? "";
    return {
      model: validateModelName(header.name),
      version: header.version === "" ? undefined : validateVersion(header.version),
      type: validateModelType(header.type),
      description: validateText(header.description, "description", LIMITS.maxDescriptionBytes),
      metadata: validateMetadata(header.metadata),
      tags: validateTags(header.tags),
      lineage: {
        parentName: parentName === "" ? "" : validateModelName(parentName),
        parentVersion: parentVersion === "" ? "" : validateVersion(parentVersion),
        producer: validateText(lineage.producer ?? "", "lineage producer", LIMITS.maxProducerBytes),
        samplesUsed: lineage.samplesUsed ?? 0,
        details: validateMetadata(lineage.details ?? {}),
      },
    };
  }

  /**
   * Registers a version from a stream of chunks. Chunks of one artifact are contiguous; a chunk
   * naming another artifact starts it. Memory stays bounded: each chunk is written before the next
   * is read. Any failure (or an abort of signal) drops everything written.
   */
  async register(header: VersionHeaderInput, chunks: AsyncIterable<ChunkInput>, signal?: AbortSignal): Promise<VersionRecord> {
    const draft = Registry.draftFrom(header);
    const upload = await this.storage.beginUpload(draft);
    try {
      let current: string | undefined;
      let expected: string | undefined;
      for await (const chunk of withIdleTimeout(chunks, this.options.uploadIdleTimeoutMs)) {
        signal?.throwIfAborted();
        if (chunk.artifactName !== current) {
          if (current !== undefined) await upload.finishArtifact(expected);
          if (chunk.artifactName === "") throw new ValidationError("every chunk must name its artifact (artifact_name)");
          current = validateArtifactName(chunk.artifactName);
          expected = undefined;
          await upload.beginArtifact(current);
        }
        const sha = validateSha256Hex(chunk.sha256, `sha256 of artifact '${current}'`);
        if (sha !== undefined) {
          if (expected !== undefined && expected !== sha) {
            throw new ValidationError(`chunks of artifact '${current}' carry two different sha256 values (${expected} and ${sha}); send one digest`);
          }
          expected = sha;
        }
        await upload.write(chunk.data);
      }
      signal?.throwIfAborted();
      if (current !== undefined) await upload.finishArtifact(expected);
      return await upload.commit(signal);
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  /** Resolves a version by exact version, by alias ("latest" meaning the newest), or the newest when neither is set. */
  async resolve(name: string, selector: Selector): Promise<VersionRecord> {
    const model = validateModelName(name);
    const version = await this.resolveVersion(model, selector);
    const record = await this.storage.getVersion(model, version);
    if (!record) throw new RegistryError("not_found", `model '${model}' has no version '${version}'`);
    return record;
  }

  private async resolveVersion(model: string, selector: Selector): Promise<string> {
    if (selector.version !== undefined && selector.alias !== undefined) throw new ValidationError("give a version or an alias, not both");
    if (selector.version !== undefined && selector.version !== "") {
      const version = validateVersion(selector.version);
      if (!(await this.storage.getModel(model))) throw noModel(model);
      return version;
    }
    const summary = await this.storage.getModel(model);
    if (!summary) throw noModel(model);
    const alias = selector.alias ?? "";
    if (alias === "" || alias === LATEST) return summary.latestVersion;
    validateAlias(alias);
    const version = summary.aliases[alias];
    if (version === undefined) {
      const known = Object.keys(summary.aliases).sort();
      throw new RegistryError("not_found", `model '${model}' has no alias '${alias}'${known.length ? ` (its aliases: ${known.join(", ")})` : " (it has no aliases)"}`);
    }
    return version;
  }

  /** Aliases pointing at a version, sorted. */
  async aliasesOf(record: VersionRecord): Promise<string[]> {
    return (await this.aliasesByVersion(record.model)).get(record.version) ?? [];
  }

  /** Every alias of a model grouped by the version it points at, each list sorted. */
  async aliasesByVersion(model: string): Promise<Map<string, string[]>> {
    const summary = await this.storage.getModel(model);
    const out = new Map<string, string[]>();
    for (const [alias, version] of Object.entries(summary?.aliases ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      out.set(version, [...(out.get(version) ?? []), alias]);
    }
    return out;
  }

  async listModels(pageSize: number, pageToken: string): Promise<Page<ModelSummary>> {
    const size = checkPageSize(pageSize);
    const after = pageToken === "" ? undefined : decodeToken(pageToken, "models", "");
    const all = await this.storage.listModels();
    const rest = after === undefined ? all : all.filter((m) => m.name > after);
    const items = rest.slice(0, size);
    return { items, nextPageToken: rest.length > size ? encodeToken("models", "", items[items.length - 1]!.name) : "" };
  }

  /** A model's versions, newest first. */
  async listVersions(name: string, pageSize: number, pageToken: string): Promise<Page<VersionRecord>> {
    const model = validateModelName(name);
    const size = checkPageSize(pageSize);
    const after = pageToken === "" ? undefined : parseVersion(decodeToken(pageToken, "versions", model));
    const names = await this.storage.listVersionNames(model);
    if (names.length === 0) throw noModel(model);
    const ordered = names.map((v) => parseVersion(v)).sort((a, b) => compareVersions(b, a));
    const rest = after === undefined ? ordered : ordered.filter((v) => compareVersions(v, after) < 0);
    const items: VersionRecord[] = [];
    for (const v of rest.slice(0, size)) {
      const r = await this.storage.getVersion(model, v.text);
      if (r) items.push(r); // a version deleted meanwhile is simply skipped
    }
    const last = rest[Math.min(size, rest.length) - 1];
    return { items, nextPageToken: rest.length > size && last ? encodeToken("versions", model, last.text) : "" };
  }

  async setAlias(name: string, alias: string, version: string): Promise<VersionRecord> {
    const model = validateModelName(name);
    const a = validateAlias(alias);
    if (version === "") throw new ValidationError("version is required: the exact version the alias points at");
    const v = validateVersion(version);
    if (!(await this.storage.getModel(model))) throw noModel(model);
    await this.storage.setAlias(model, a, v);
    const record = await this.storage.getVersion(model, v);
    if (!record) throw new RegistryError("not_found", `model '${model}' has no version '${v}'`);
    return record;
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    const model = validateModelName(name);
    const a = validateAlias(alias);
    if (!(await this.storage.getModel(model))) throw noModel(model);
    const previous = await this.storage.deleteAlias(model, a);
    if (previous === undefined) throw new RegistryError("not_found", `model '${model}' has no alias '${a}'`);
  }

  async deleteVersion(name: string, version: string, force: boolean): Promise<{ removedAliases: string[] }> {
    const model = validateModelName(name);
    if (version === "") throw new ValidationError("version is required: deleting needs the exact version");
    return this.storage.deleteVersion(model, validateVersion(version), force);
  }

  /** Resolves the version and artifact of a download; the bytes come from read(). */
  async openDownload(name: string, selector: Selector, artifactName: string): Promise<{ record: VersionRecord; artifact: ArtifactRecord }> {
    const record = await this.resolve(name, selector);
    if (artifactName === "") {
      if (record.artifacts.length !== 1) {
        throw new ValidationError(
          `version '${record.version}' of model '${record.model}' has ${record.artifacts.length} artifacts; name one in artifact_name (${record.artifacts.map((a) => a.name).join(", ") || "none"})`,
        );
      }
      return { record, artifact: record.artifacts[0]! };
    }
    const wanted = validateArtifactName(artifactName);
    const artifact = record.artifacts.find((a) => a.name === wanted);
    if (!artifact) {
      throw new RegistryError(
        "not_found",
        `version '${record.version}' of model '${record.model}' has no artifact '${wanted}' (it has: ${record.artifacts.map((a) => a.name).join(", ") || "none"})`,
      );
    }
    return { record, artifact };
  }

  /** The artifact's bytes in chunks (see RegistryStorage.readArtifact). */
  read(record: VersionRecord, artifact: ArtifactRecord, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal }): AsyncIterable<ReadChunk> {
    return this.storage.readArtifact(record.model, record.version, artifact.name, options);
  }
}

function noModel(model: string): RegistryError {
  return new RegistryError("not_found", `no model named '${model}' is registered`);
}

function checkPageSize(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw new ValidationError(`page_size must be 0 (default ${DEFAULT_PAGE_SIZE}) or a positive integer, got ${pageSize}`);
  return pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
}

// Page tokens are opaque to clients: base64url JSON naming the listing and the last item sent.
// Resuming "after the last item" keeps pages stable while versions are added or deleted.
function encodeToken(kind: string, scope: string, after: string): string {
  return Buffer.from(JSON.stringify({ k: kind, s: scope, a: after })).toString("base64url");
}

function decodeToken(token: string, kind: string, scope: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const t = parsed as { k?: unknown; s?: unknown; a?: unknown } | undefined;
  if (!t || t.k !== kind || typeof t.a !== "string") {
    throw new ValidationError("page_token is not one this listing returned; pass next_page_token from the previous response, or empty for the first page");
  }
  if (t.s !== scope) throw new ValidationError(`page_token belongs to a listing of another model, not '${scope}'`);
  return t.a;
}
