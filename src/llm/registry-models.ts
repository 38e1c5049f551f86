// GGUF models stored in RegistryService, served by LLMService as "registry:<name>@<version-or-alias>".
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, stat, unlink, utimes } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ModelRuntime, RegistryService, type ModelVersion } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { requireRuntime } from "../registry/runtime.js";
import { REGISTRY_PREFIX, type RegistryLease, type RegistryModels } from "./gateway.js";
import type { LlamaCppProvider, LlamaCppProviderOptions } from "./providers/local-llama.js";
import { ProviderError } from "./providers/provider.js";
import { quote } from "../platform/errors.js";

/** The provider name registry models report (GenerateResponse.provider). */
export const REGISTRY_PROVIDER_NAME = "registry";
const SHA256_HEX = /^[0-9a-f]{64}$/;
const STALE_TEMP_MS = 60 * 60 * 1000;

export interface RegistryModelLoaderOptions {
  /** In-process transport to RegistryService. */
  transport: Transport;
  /** config.dataDir: downloaded GGUF files are kept in `<dataDir>/llm-cache/<sha256>.gguf`. */
  dataDir: string;
  log?: Logger;
  /** The server's metrics registry, for the loaded models' openloop_llm_local_* metrics. */
  metrics?: Registry;
  /** Registry models loaded at once; the least recently used idle one is unloaded to make room. Default 2. */
  maxLoaded?: number;
  /** A model nobody uses is unloaded after this long, in milliseconds. Default 60 000. */
  idleMs?: number;
  /** Bytes of GGUF files kept in llm-cache; the least recently used files not loaded are deleted above it. Default 20 GiB. */
  maxCacheBytes?: number;
  /** Context size, sequences, threads and queue of each loaded model (LlamaCppProvider's defaults otherwise). */
  provider?: Omit<LlamaCppProviderOptions, "name" | "modelPath" | "log" | "metrics" | "metricsLabel">;
}

interface Entry {
  readonly sha256: string;
  /** Every registry id ("registry:name@version") resolved to this file. */
  readonly ids: Set<string>;
  upstreamModel: string;
  refs: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Resolves with the loaded provider; shared by every caller that asks while it loads. */
  readonly ready: Promise<LlamaCppProvider>;
  provider: LlamaCppProvider | undefined;
}

interface Resolved {
  name: string;
  version: string;
  artifact: { name: string; sha256: string; sizeBytes: bigint };
}

/**
 * Loads GGUF versions from RegistryService on first use and shares each loaded model between
 * concurrent callers. It implements the gateway's `RegistryModels`:
 *
 * - `acquire("registry:<name>@<version-or-alias>" | "registry:<name>", signal)` resolves the
 *   version on every call (so a moved alias takes effect at once) through the public
 *   RegistryService contract, checks its type is `gguf` (else FAILED_PRECONDITION naming the
 *   type, by the registry's `requireRuntime`), downloads its .gguf artifact once into `<dataDir>/llm-cache/<sha256>.gguf`
 *   (temp file, digest verified, rename; reused when present), loads it, and returns a lease.
 * - Models are keyed by the artifact's digest, so two versions with the same bytes share one
 *   loaded model. A model is unloaded `idleMs` after its last lease is released, or earlier
 *   when another model needs its place among the `maxLoaded` (least recently used first).
 *   When every loaded model is in use, a new one is refused with RESOURCE_EXHAUSTED.
 * - `release()` of a lease is idempotent.
 */
export class RegistryModelLoader implements RegistryModels {
  private readonly client: Client<typeof RegistryService>;
  private readonly cacheDir: string;
  private readonly log?: Logger;
  private readonly metrics?: Registry;
  private readonly maxLoaded: number;
  private readonly idleMs: number;
  private readonly maxCacheBytes: number;
  private readonly providerOptions: RegistryModelLoaderOptions["provider"];
  /** Loaded and loading models by digest, least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly shutdown = new AbortController();
  private closed = false;
  private cleanedTemps = false;
  /** Cached files this loader has hashed or written, by digest: inode and size, so a reload skips re-hashing. */
  private readonly verified = new Map<string, string>();

  constructor(options: RegistryModelLoaderOptions) {
    this.client = createClient(RegistryService, options.transport);
    this.cacheDir = path.join(options.dataDir, "llm-cache");
    this.log = options.log;
    this.metrics = options.metrics;
    this.maxLoaded = options.maxLoaded ?? 2;
    this.idleMs = options.idleMs ?? 60_000;
    this.maxCacheBytes = options.maxCacheBytes ?? 20 * 1024 ** 3;
    this.providerOptions = options.provider;
    if (!Number.isInteger(this.maxLoaded) || this.maxLoaded < 1) throw new Error(`maxLoaded must be a positive integer, got ${this.maxLoaded}`);
  }

  async acquire(id: string, signal: AbortSignal): Promise<RegistryLease> {
    if (this.closed) throw new ConnectError("registry models are shutting down", Code.Unavailable);
    const resolved = await this.resolveVersion(id, signal);
    if (this.closed) throw new ConnectError("registry models are shutting down", Code.Unavailable);
    const modelId = `${REGISTRY_PREFIX}${resolved.name}@${resolved.version}`;
    const entry = this.entryFor(resolved);
    entry.ids.add(modelId);
    entry.upstreamModel = `${resolved.name}@${resolved.version}`;
    entry.refs++;
    this.touch(entry);
    let provider: LlamaCppProvider;
    try {
      provider = await abortable(entry.ready, signal);
    } catch (err) {
      this.unref(entry);
      throw err;
    }
    let released = false;
    return {
      provider,
      model: modelId,
      upstreamModel: `${resolved.name}@${resolved.version}`,
      release: () => {
        if (released) return;
        released = true;
        this.unref(entry);
      },
    };
  }

  loaded(): Array<{ id: string; upstreamModel: string; provider: string }> {
    const out: Array<{ id: string; upstreamModel: string; provider: string }> = [];
    for (const entry of this.entries.values()) {
      if (!entry.provider) continue;
      for (const id of entry.ids) out.push({ id, upstreamModel: id.slice(REGISTRY_PREFIX.length), provider: REGISTRY_PROVIDER_NAME });
    }
    return out;
  }

  /** Unloads every model and stops downloads in progress. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.shutdown.abort(new ConnectError("registry models are shutting down", Code.Unavailable));
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(entries.map((e) => this.unload(e)));
  }

  /** Parses the id and asks RegistryService for the version, checking it is a GGUF. */
  private async resolveVersion(id: string, signal: AbortSignal): Promise<Resolved> {
    const { name, selector } = parseRegistryModelId(id);
    const { modelVersion } = await this.client.getModelVersion({ name, selector }, { signal });
    if (!modelVersion) throw new ConnectError(`the registry returned no version for '${id}'`, Code.Internal);
    // The registry's own rule for which service loads which type, and its wording of the refusal.
    requireRuntime(modelVersion, ModelRuntime.LLM);
    const artifact = ggufArtifact(modelVersion);
    const sha256 = artifact.sha256.toLowerCase();
    if (!SHA256_HEX.test(sha256)) {
      throw new ConnectError(`registry model ${modelVersion.name}@${modelVersion.version}: artifact '${artifact.name}' has no valid SHA-256 digest`, Code.DataLoss);
    }
    return { name: modelVersion.name, version: modelVersion.version, artifact: { name: artifact.name, sha256, sizeBytes: artifact.sizeBytes } };
  }

  private entryFor(resolved: Resolved): Entry {
    const existing = this.entries.get(resolved.artifact.sha256);
    if (existing) return existing;
    this.makeRoom();
    const ready = this.load(resolved);
    const entry: Entry = {
      sha256: resolved.artifact.sha256,
      ids: new Set(),
      upstreamModel: `${resolved.name}@${resolved.version}`,
      refs: 0,
      idleTimer: undefined,
      provider: undefined,
      ready,
    };
    ready.then(
      (provider) => {
        entry.provider = provider;
        // Closed, or evicted while loading (only possible once unreferenced): let it go.
        if (this.entries.get(entry.sha256) !== entry) void provider.close();
      },
      (err: unknown) => {
        if (this.entries.get(entry.sha256) === entry) this.entries.delete(entry.sha256);
        this.log?.warn({ err: String(err), model: entry.upstreamModel }, "registry model failed to load");
      },
    );
    this.entries.set(entry.sha256, entry);
    return entry;
  }

  /** Unloads least recently used idle models until a new one fits under maxLoaded. */
  private makeRoom(): void {
    for (const entry of this.entries.values()) {
      if (this.entries.size < this.maxLoaded) return;
      if (entry.refs === 0) this.evict(entry);
    }
    if (this.entries.size >= this.maxLoaded) {
      throw new ConnectError(
        `${this.entries.size} registry models are loaded and all are in use (at most ${this.maxLoaded}); retry when one is released`,
        Code.ResourceExhausted,
      );
    }
  }

  private touch(entry: Entry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    this.entries.delete(entry.sha256);
    this.entries.set(entry.sha256, entry);
  }

  private unref(entry: Entry): void {
    entry.refs--;
    if (entry.refs > 0 || this.entries.get(entry.sha256) !== entry) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.refs === 0 && this.entries.get(entry.sha256) === entry) this.evict(entry);
    }, this.idleMs);
    entry.idleTimer.unref();
  }

  private evict(entry: Entry): void {
    this.entries.delete(entry.sha256);
    void this.unload(entry);
  }

  private async unload(entry: Entry): Promise<void> {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    const provider = entry.provider ?? (await entry.ready.catch(() => undefined));
    if (!provider) return;
    await provider.close();
    this.log?.info({ model: entry.upstreamModel, sha256: entry.sha256 }, "registry model unloaded");
  }

  private async load(resolved: Resolved): Promise<LlamaCppProvider> {
    const file = await this.cachedFile(resolved);
    // Loaded lazily, as the llm module does, so servers that never serve a local model skip node-llama-cpp.
    const { LlamaCppProvider } = await import("./providers/local-llama.js");
    const provider = new LlamaCppProvider({ ...this.providerOptions, name: REGISTRY_PROVIDER_NAME, modelPath: file, log: this.log, metrics: this.metrics, metricsLabel: `${REGISTRY_PREFIX}${resolved.name}@${resolved.version}` });
    try {
      await provider.init();
    } catch (err) {
      const reason = err instanceof ProviderError && err.cause instanceof Error ? err.cause.message : String(err);
      throw new ConnectError(
        `registry model ${resolved.name}@${resolved.version}: artifact '${resolved.artifact.name}' is not a GGUF model llama.cpp can load (${reason})`,
        Code.FailedPrecondition,
      );
    }
    this.log?.info({ model: `${resolved.name}@${resolved.version}`, sha256: resolved.artifact.sha256 }, "registry model loaded");
    return provider;
  }

  /** The artifact's file in llm-cache, downloaded and verified unless a verified copy is there. */
  private async cachedFile(resolved: Resolved): Promise<string> {
    const { sha256, sizeBytes } = resolved.artifact;
    const file = path.join(this.cacheDir, `${sha256}.gguf`);
    await mkdir(this.cacheDir, { recursive: true });
    await this.removeStaleTemps();
    const present = await stat(file).catch(() => undefined);
    if (present && BigInt(present.size) === sizeBytes) {
      const fingerprint = `${present.ino}:${present.size}`;
      if (this.verified.get(sha256) === fingerprint || (await sha256File(file)) === sha256) {
        this.verified.set(sha256, fingerprint);
        const now = new Date();
        await utimes(file, now, now);
        return file;
      }
    }
    await this.download(resolved, file);
    const written = await stat(file);
    this.verified.set(sha256, `${written.ino}:${written.size}`);
    await this.pruneCache(file);
    return file;
  }

  private async download(resolved: Resolved, file: string): Promise<void> {
    const { name, version } = resolved;
    const { sha256: expected, name: artifactName } = resolved.artifact;
    const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(temp, "wx");
    const hash = createHash("sha256");
    const started = performance.now();
    let bytes = 0;
    try {
      const stream = this.client.downloadArtifact(
        { name, selector: { case: "version", value: version }, artifactName },
        { signal: this.shutdown.signal },
      );
      for await (const message of stream) {
        if (message.part.case === "header") {
          const announced = message.part.value.artifact?.sha256.toLowerCase();
          if (announced && announced !== expected) {
            throw new ConnectError(`registry model ${name}@${version}: the download announced digest ${announced}, the version lists ${expected}`, Code.DataLoss);
          }
        } else if (message.part.case === "data") {
          hash.update(message.part.value);
          bytes += message.part.value.byteLength;
          await handle.write(message.part.value);
        }
      }
      await handle.sync();
      await handle.close();
      const actual = hash.digest("hex");
      if (actual !== expected) {
        throw new ConnectError(`registry model ${name}@${version}: downloaded artifact '${artifactName}' has SHA-256 ${actual}, expected ${expected}`, Code.DataLoss);
      }
      await rename(temp, file);
      this.log?.info({ model: `${name}@${version}`, bytes, ms: Math.round(performance.now() - started) }, "registry model downloaded");
    } catch (err) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw err;
    }
  }

  /** Temp files left by a crashed download (old enough not to be another replica's download in progress). */
  private async removeStaleTemps(): Promise<void> {
    if (this.cleanedTemps) return;
    this.cleanedTemps = true;
    for (const name of await readdir(this.cacheDir).catch(() => [] as string[])) {
      if (!name.endsWith(".tmp")) continue;
      const file = path.join(this.cacheDir, name);
      const st = await stat(file).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_TEMP_MS) await unlink(file).catch(() => {});
    }
  }

  /** Deletes least recently used cached files, never a loaded one or `keep`, while the cache is over its size. */
  private async pruneCache(keep: string): Promise<void> {
    const files: Array<{ file: string; size: number; used: number }> = [];
    for (const name of await readdir(this.cacheDir)) {
      if (!name.endsWith(".gguf")) continue;
      const file = path.join(this.cacheDir, name);
      const st = await stat(file).catch(() => undefined);
      if (st) files.push({ file, size: st.size, used: st.mtimeMs });
    }
    let total = files.reduce((n, f) => n + f.size, 0);
    files.sort((a, b) => a.used - b.used);
    for (const f of files) {
      if (total <= this.maxCacheBytes) return;
      const sha = path.basename(f.file, ".gguf");
      if (f.file === keep || this.entries.has(sha)) continue;
      await unlink(f.file).catch(() => {});
      total -= f.size;
    }
  }
}

/**
 * "registry:<name>", "registry:<name>@<version>" or "registry:<name>@<alias>". The part after
 * '@' is a version when it starts with a digit (registry versions are integers or semantic
 * versions; aliases start with a letter); "latest", like no '@', means the newest version.
 * The registry validates the names themselves.
 */
export function parseRegistryModelId(id: string): {
  name: string;
  selector: { case: "version" | "alias"; value: string } | { case: undefined; value?: undefined };
} {
  if (!id.startsWith(REGISTRY_PREFIX)) {
    throw new ConnectError(`'${quote(id)}' is not a registry model id; use registry:<name>@<version-or-alias>`, Code.InvalidArgument);
  }
  const ref = id.slice(REGISTRY_PREFIX.length);
  const at = ref.indexOf("@");
  const name = at < 0 ? ref : ref.slice(0, at);
  const selector = at < 0 ? "" : ref.slice(at + 1);
  if (name === "" || (at >= 0 && selector === "")) {
    throw new ConnectError(`registry model id '${quote(id)}' must be registry:<name>, registry:<name>@<version> or registry:<name>@<alias>`, Code.InvalidArgument);
  }
  if (selector === "" || selector === "latest") return { name, selector: { case: undefined } };
  return { name, selector: { case: /^[0-9]/.test(selector) ? "version" : "alias", value: selector } };
}

/** The version's GGUF file: its one artifact ending in .gguf, or its only artifact. */
function ggufArtifact(version: ModelVersion): { name: string; sha256: string; sizeBytes: bigint } {
  const ggufs = version.artifacts.filter((a) => a.name.toLowerCase().endsWith(".gguf"));
  const chosen = ggufs.length === 1 ? ggufs[0] : ggufs.length === 0 && version.artifacts.length === 1 ? version.artifacts[0] : undefined;
  if (!chosen) {
    const names = version.artifacts.map((a) => a.name).join(", ") || "none";
    throw new ConnectError(
      `registry model ${version.name}@${version.version} needs exactly one .gguf artifact to be served, it has: ${names}`,
      Code.FailedPrecondition,
    );
  }
  return chosen;
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** Waits for `promise` unless `signal` aborts first (the promise itself goes on for other callers). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function abortError(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new ConnectError("the call was cancelled while the model loaded", Code.Canceled);
}
