// Client-side helpers for the registry tests: streaming uploads, hashing downloads, data generators.
import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  ModelVersionHeaderSchema,
  RegisterModelVersionRequestSchema,
  RegistryService,
  type ModelVersion,
  type RegisterModelVersionRequest,
} from "../../gen/openloop/registry/v1/registry_service_pb.js";

export type RegistryClient = Client<typeof RegistryService>;
export type HeaderInit = MessageInitShape<typeof ModelVersionHeaderSchema>;

export function registryClient(transport: Transport): RegistryClient {
  return createClient(RegistryService, transport);
}

export interface UploadArtifact {
  name: string;
  /** The bytes, as chunks (an async iterable lets a test produce data on the fly). */
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** Sent on the first chunk when given. */
  sha256?: string;
}

/** The request stream of RegisterModelVersion: the header, then each artifact's chunks. */
export async function* uploadRequests(header: HeaderInit, artifacts: UploadArtifact[]): AsyncGenerator<RegisterModelVersionRequest> {
  yield create(RegisterModelVersionRequestSchema, { part: { case: "header", value: create(ModelVersionHeaderSchema, header) } });
  for (const a of artifacts) {
    let first = true;
    for await (const data of a.chunks) {
      yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName: a.name, data, sha256: first ? (a.sha256 ?? "") : "" } } });
      first = false;
    }
    if (first) yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName: a.name, data: new Uint8Array(), sha256: a.sha256 ?? "" } } });
  }
}

export async function upload(client: RegistryClient, header: HeaderInit, artifacts: UploadArtifact[], signal?: AbortSignal): Promise<ModelVersion> {
  const res = await client.registerModelVersion(uploadRequests(header, artifacts), { signal });
  return res.modelVersion!;
}

/** Registers a version with one small artifact through the unary twin. */
export async function registerSmall(client: RegistryClient, name: string, version = "", type = "linear", content = `${name}@${version}`): Promise<ModelVersion> {
  const res = await client.registerModelVersionUnary({ header: { name, version, type }, artifacts: [{ name: "weights.bin", data: Buffer.from(content) }] });
  return res.modelVersion!;
}

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Random bytes produced on the fly in chunks; `hash` holds the digest once the iteration ends. */
export function randomStream(totalBytes: number, chunkBytes = 1024 * 1024): { chunks: AsyncIterable<Uint8Array>; digest(): string } {
  const hash = createHash("sha256");
  let digest: string | undefined;
  async function* gen() {
    let left = totalBytes;
    while (left > 0) {
      const n = Math.min(chunkBytes, left);
      const b = randomBytes(n);
      hash.update(b);
      left -= n;
      yield b;
    }
    digest = hash.digest("hex");
  }
  return {
    chunks: gen(),
    digest: () => {
      if (digest === undefined) throw new Error("the stream was not fully consumed");
      return digest;
    },
  };
}

export interface Downloaded {
  version: string;
  artifact: { name: string; sizeBytes: bigint; sha256: string };
  bytes: number;
  sha256: string;
  chunks: number;
  maxChunkBytes: number;
  data?: Buffer;
}

/** Downloads an artifact, hashing as it goes; keeps the bytes only when keep is true. */
export async function download(
  client: RegistryClient,
  req: Parameters<RegistryClient["downloadArtifact"]>[0],
  keep = false,
): Promise<Downloaded> {
  const hash = createHash("sha256");
  const parts: Buffer[] = [];
  let header: Downloaded["artifact"] | undefined;
  let version = "";
  let bytes = 0;
  let chunks = 0;
  let maxChunkBytes = 0;
  for await (const res of client.downloadArtifact(req)) {
    if (res.part.case === "header") {
      if (header) throw new Error("two headers");
      header = res.part.value.artifact!;
      version = res.part.value.version;
    } else if (res.part.case === "data") {
      if (!header) throw new Error("data before the header");
      hash.update(res.part.value);
      bytes += res.part.value.byteLength;
      chunks++;
      maxChunkBytes = Math.max(maxChunkBytes, res.part.value.byteLength);
      if (keep) parts.push(Buffer.from(res.part.value));
    }
  }
  if (!header) throw new Error("no header");
  return { version, artifact: header, bytes, sha256: hash.digest("hex"), chunks, maxChunkBytes, data: keep ? Buffer.concat(parts) : undefined };
}

/** Resolves to the error code of a call that must fail (and fails the test when it succeeds). */
export async function codeOf(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Every file and directory below root, relative, sorted. */
export async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  async function go(dir: string) {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      out.push(path.relative(root, p));
      if (e.isDirectory()) await go(p);
    }
  }
  await go(root);
  return out.sort();
}
