// RegistryService over the generated contract: a thin adapter from proto messages to the
// domain (src/registry/registry.ts) and from domain errors to gRPC codes.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry as MetricsRegistry } from "prom-client";
import {
  ArtifactInfoSchema,
  DownloadArtifactResponseSchema,
  ModelSchema,
  ModelVersionSchema,
  RegistryService,
  type DownloadArtifactResponse,
  type Lineage as LineageMessage,
  type ModelVersion,
  type ModelVersionHeader,
  type RegisterModelVersionRequest,
} from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { codeName } from "../platform/observe.js";
import { RegistryError, ValidationError, type RegistryErrorKind } from "./errors.js";
import type { ChunkInput, Registry, Selector, VersionHeaderInput } from "./registry.js";
import { runtimeForType } from "./runtime.js";
import { transferred } from "../platform/young-gc.js";
import type { ArtifactRecord, ModelSummary, ReadChunk, VersionRecord } from "./storage.js";
import { encodeSelf, encodedSent } from "../platform/rpc/encode-self.js";
import { closeOnAbort } from "../platform/streams.js";
import { ownsRequestBuffers } from "../platform/rpc/request-buffers.js";
import { freeOnceCopied } from "./artifact-io.js";

export interface RegistryServiceOptions {
  readonly downloadChunkBytes: number;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
}

// A data message is its payload plus a tag and a length prefix. Keeping the whole message within
// downloadChunkBytes (a power of two by default) keeps protobuf's doubling write buffer at that
// size instead of twice it: one MiB less garbage per MiB sent.
const MESSAGE_FRAMING_BYTES = 16;


const CODES: Record<RegistryErrorKind, Code> = {
  invalid: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  precondition: Code.FailedPrecondition,
  data_loss: Code.DataLoss,
  too_large: Code.ResourceExhausted,
  stalled: Code.DeadlineExceeded,
};

export function createRegistryService(registry: Registry, options: RegistryServiceOptions): ServiceImpl<typeof RegistryService> {
  const m = createMetrics(options.metrics);

  async function toProto(record: VersionRecord, aliases?: string[]): Promise<ModelVersion> {
    return versionToProto(record, aliases ?? (await registry.aliasesOf(record)));
  }

  async function register(header: ModelVersionHeader, chunks: AsyncIterable<ChunkInput>, ctx: HandlerContext): Promise<ModelVersion> {
    m.uploadsInProgress.inc();
    try {
      const record = await registry.register(headerInput(header), countBytes(chunks, m.uploadBytes), ctx.signal);
      m.registrations.inc({ result: "ok" });
      options.log.info({ model: record.model, version: record.version, type: record.type, artifacts: record.artifacts.length }, "registry: version registered");
      return await toProto(record, []);
    } catch (err) {
      const mapped = toConnectError(err, ctx);
      m.registrations.inc({ result: codeName(mapped.code) });
      throw mapped;
    } finally {
      m.uploadsInProgress.dec();
    }
  }

  return {
    async registerModelVersion(requests, ctx) {
      const it = requests[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        if (first.done || first.value.part.case !== "header") {
          throw new ConnectError("the first message of RegisterModelVersion must be the header (part.header), followed by artifact chunks", Code.InvalidArgument);
        }
        const modelVersion = await register(first.value.part.value, chunksOf(it, ownsRequestBuffers(ctx)), ctx);
        return { modelVersion };
      } finally {
        // Stop reading the request when we fail early; the rest of the upload is discarded. Not
        // awaited: after a stall the request iterator is still waiting for bytes that never come.
        void it.return?.()?.catch(() => undefined);
      }
    },

    async registerModelVersionUnary(req, ctx) {
      if (!req.header) throw new ConnectError("header is required: the model name, version and type of the version to register", Code.InvalidArgument);
      const chunks = req.artifacts.map((a): ChunkInput => ({ artifactName: a.name, data: a.data, sha256: a.sha256 }));
      for (const c of chunks) {
        if (c.artifactName === "") throw new ConnectError("every artifact needs a name", Code.InvalidArgument);
      }
      const names = new Set<string>();
      for (const c of chunks) {
        if (names.has(c.artifactName)) throw new ConnectError(`artifact '${c.artifactName}' appears twice; give each artifact a distinct name`, Code.InvalidArgument);
        names.add(c.artifactName);
      }
      return { modelVersion: await register(req.header, iterate(chunks), ctx) };
    },

    async getModelVersion(req, ctx) {
      return guard(ctx, async () => ({ modelVersion: await toProto(await registry.resolve(req.name, selectorOf(req.selector))) }));
    },

    async listModels(req, ctx) {
      return guard(ctx, async () => {
        const page = await registry.listModels(req.pageSize, req.pageToken);
        return { models: page.items.map(modelToProto), nextPageToken: page.nextPageToken };
      });
    },

    async listModelVersions(req, ctx) {
      return guard(ctx, async () => {
        const page = await registry.listVersions(req.name, req.pageSize, req.pageToken);
        const aliases = page.items.length > 0 ? await registry.aliasesByVersion(page.items[0]!.model) : new Map<string, string[]>();
        const modelVersions = page.items.map((r) => versionToProto(r, aliases.get(r.version) ?? []));
        return { modelVersions, nextPageToken: page.nextPageToken };
      });
    },

    async setAlias(req, ctx) {
      return guard(ctx, async () => {
        const record = await registry.setAlias(req.name, req.alias, req.version);
        options.log.info({ model: record.model, alias: req.alias, version: record.version }, "registry: alias set");
        return { modelVersion: await toProto(record) };
      });
    },

    async deleteAlias(req, ctx) {
      return guard(ctx, async () => {
        await registry.deleteAlias(req.name, req.alias);
        options.log.info({ model: req.name, alias: req.alias }, "registry: alias deleted");
        return {};
      });
    },

    async deleteModelVersion(req, ctx) {
      return guard(ctx, async () => {
        const { removedAliases } = await registry.deleteVersion(req.name, req.version, req.force);
        options.log.info({ model: req.name, version: req.version, removedAliases }, "registry: version deleted");
        return {};
      });
    },

    async *downloadArtifact(req, ctx): AsyncGenerator<DownloadArtifactResponse> {
      const { record, artifact } = await guard(ctx, () => registry.openDownload(req.name, selectorOf(req.selector), req.artifactName));
      yield create(DownloadArtifactResponseSchema, {
        part: { case: "header", value: { version: record.version, artifact: artifactToProto(artifact) } },
      });
      try {
        const chunks = registry.read(record, artifact, { chunkBytes: options.downloadChunkBytes - MESSAGE_FRAMING_BYTES, headroom: DATA_FIELD_HEADER_BYTES, signal: ctx.signal });
        for await (const chunk of closeOnAbort(chunks, ctx.signal)) {
          m.downloadBytes.inc(chunk.data.byteLength);
          transferred(chunk.data.byteLength);
          yield dataResponse(chunk);
        }
      } catch (err) {
        throw toConnectError(err, ctx);
      }
    },
  };
}

// DownloadArtifactResponse.data: field 2, length-delimited; its header is the tag and a varint
// length (at most 5 bytes for any length below 4 GiB).
const DATA_FIELD_TAG = (2 << 3) | 2;
const DATA_FIELD_HEADER_BYTES = 6;

/**
 * A data message that can also write its own protobuf binary (encodeSelf) around the chunk, in
 * the headroom the storage left before it: protobuf never copies the chunk for gRPC. The
 * chunk's buffer is given back once the transport says the message is sent (encodedSent: every
 * transport does but an in-process caller, whose chunks are left to the garbage collector).
 */
function dataResponse(chunk: ReadChunk): DownloadArtifactResponse {
  const message = create(DownloadArtifactResponseSchema, { part: { case: "data", value: chunk.data } });
  Object.defineProperty(message, encodeSelf, { value: () => dataMessage(chunk.withHeadroom) });
  Object.defineProperty(message, encodedSent, { value: chunk.release });
  return message;
}

/**
 * DownloadArtifactResponse{data} in protobuf binary form, built in place: `buf` holds
 * DATA_FIELD_HEADER_BYTES free bytes, then the data. Returns the encoded tail of `buf`.
 */
export function dataMessage(buf: Uint8Array): Uint8Array {
  let len = buf.byteLength - DATA_FIELD_HEADER_BYTES;
  let varint = 1;
  for (let v = len >>> 7; v > 0; v >>>= 7) varint++;
  let at = DATA_FIELD_HEADER_BYTES - varint - 1;
  const start = at;
  buf[at++] = DATA_FIELD_TAG;
  while (len > 0x7f) {
    buf[at++] = (len & 0x7f) | 0x80;
    len >>>= 7;
  }
  buf[at] = len;
  return buf.subarray(start);
}

/** The upload's chunks; `ownBuffers`: each message arrived in a buffer of its own (ownsRequestBuffers), freed once copied. */
async function* chunksOf(it: AsyncIterator<RegisterModelVersionRequest>, ownBuffers: boolean): AsyncGenerator<ChunkInput> {
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    const part = next.value.part;
    if (part.case === "chunk") {
      transferred(part.value.data.byteLength);
      if (ownBuffers) freeOnceCopied(part.value.data);
      yield { artifactName: part.value.artifactName, data: part.value.data, sha256: part.value.sha256 };
    } else if (part.case === "header") {
      throw new ValidationError("only the first message may carry a header; the rest carry artifact chunks");
    } else {
      throw new ValidationError("a message carries neither header nor chunk; every message after the header must carry a chunk");
    }
  }
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

async function* countBytes(chunks: AsyncIterable<ChunkInput>, counter: Counter): AsyncGenerator<ChunkInput> {
  for await (const c of chunks) {
    counter.inc(c.data.byteLength);
    yield c;
  }
}

function headerInput(h: ModelVersionHeader): VersionHeaderInput {
  const l: LineageMessage | undefined = h.lineage;
  if (l && l.samplesUsed > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`lineage.samples_used must be at most ${Number.MAX_SAFE_INTEGER}`, Code.InvalidArgument);
  return {
    name: h.name,
    version: h.version,
    type: h.type,
    metadata: { ...h.metadata },
    tags: [...h.tags],
    description: h.description,
    lineage: l
      ? { parentName: l.parentName, parentVersion: l.parentVersion, producer: l.producer, samplesUsed: Number(l.samplesUsed), details: { ...l.details } }
      : undefined,
  };
}

function selectorOf(s: { case: "version" | "alias"; value: string } | { case: undefined; value?: undefined }): Selector {
  if (s.case === "version") return { version: s.value };
  if (s.case === "alias") return { alias: s.value };
  return {};
}

function artifactToProto(a: ArtifactRecord) {
  return create(ArtifactInfoSchema, { name: a.name, sizeBytes: BigInt(a.sizeBytes), sha256: a.sha256 });
}

export function versionToProto(r: VersionRecord, aliases: string[]): ModelVersion {
  return create(ModelVersionSchema, {
    name: r.model,
    version: r.version,
    type: r.type,
    metadata: { ...r.metadata },
    tags: [...r.tags],
    description: r.description,
    lineage: {
      parentName: r.lineage.parentName,
      parentVersion: r.lineage.parentVersion,
      producer: r.lineage.producer,
      samplesUsed: BigInt(r.lineage.samplesUsed),
      details: { ...r.lineage.details },
    },
    artifacts: r.artifacts.map(artifactToProto),
    aliases,
    createTime: timestampFromMs(r.createdAtMs),
    runtime: runtimeForType(r.type),
  });
}

function modelToProto(s: ModelSummary) {
  return create(ModelSchema, {
    name: s.name,
    latestVersion: s.latestVersion,
    versionCount: s.versionCount,
    aliases: { ...s.aliases },
    type: s.latestType,
    updateTime: timestampFromMs(s.latestCreatedAtMs),
  });
}

async function guard<T>(ctx: HandlerContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err, ctx);
  }
}

function toConnectError(err: unknown, ctx: HandlerContext): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof RegistryError) return new ConnectError(err.message, CODES[err.kind]);
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === "ENOSPC" || errno === "EDQUOT") {
    return new ConnectError("the registry's disk is full; nothing was registered (free space or delete versions, then retry)", Code.ResourceExhausted);
  }
  if (ctx.signal.aborted) {
    const reason = ctx.signal.reason;
    return reason instanceof ConnectError ? reason : new ConnectError("the call was cancelled; nothing was registered", Code.Canceled);
  }
  return ConnectError.from(err, Code.Internal);
}

function createMetrics(registry: MetricsRegistry) {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    uploadBytes: get("openloop_registry_upload_bytes_total", () => new Counter({ name: "openloop_registry_upload_bytes_total", help: "Artifact bytes received by registrations (both RPCs)", registers: [registry] })),
    downloadBytes: get("openloop_registry_download_bytes_total", () => new Counter({ name: "openloop_registry_download_bytes_total", help: "Artifact bytes sent by DownloadArtifact", registers: [registry] })),
    registrations: get(
      "openloop_registry_registrations_total",
      () => new Counter({ name: "openloop_registry_registrations_total", help: "Registrations (both RPCs) by result: ok, or the gRPC code name of the failure", labelNames: ["result"], registers: [registry] }),
    ),
    uploadsInProgress: get("openloop_registry_uploads_in_progress", () => new Gauge({ name: "openloop_registry_uploads_in_progress", help: "Uploads being received now", registers: [registry] })),
  };
}
