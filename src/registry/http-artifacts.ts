// Artifacts by plain HTTP, beside the RPCs, on the same port and with the same keys:
//
//   PUT  /registry/v1/models/{name}/versions/{version}/artifacts/{artifact}   registers a version with this one artifact
//        openloop-model-version: {"type": "gguf", "tags": ["prod"], ...}      (the rest of its ModelVersionHeader, JSON)
//        content-digest: sha-256=:<base64>:                                  (optional, RFC 9530; or repr-digest)
//   GET  /registry/v1/models/{name}/versions/{version|latest}/artifacts/{artifact}
//   GET  /registry/v1/models/{name}/aliases/{alias}/artifacts/{artifact}       (HEAD too: the headers alone)
//
// The bodies are the artifact as it is, so any HTTP client moves it (`curl -T`, `curl -o`) with
// none of the protobuf framing of the RPCs: the clients' CPU was most of what a gRPC transfer
// cost on a shared machine (BENCHMARKS.md). They are RegisterModelVersion and DownloadArtifact
// all the same, run in process through the same implementation: the name rules, the hash, fsync,
// DATA_LOSS, the limits, the key's scopes and the RPCs' metrics are the RPCs'. Errors are
// Connect's JSON error with Connect's HTTP status for the code.
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import {
  ModelVersionHeaderSchema,
  RegisterModelVersionRequestSchema,
  RegisterModelVersionResponseSchema,
  RegistryService,
  type DownloadArtifactRequest,
  type ModelVersionHeader,
  type RegisterModelVersionRequest,
} from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { HttpCall, type HttpRouteRequest, type HttpRouteResponse } from "../platform/http-call.js";
import { isPromise } from "../platform/is-promise.js";
import type { RequestHandler } from "../platform/listener.js";
import type { HttpRoute, HttpRoutePlatform } from "../platform/module.js";
import { hideInternals } from "../platform/observe.js";
import type { ServiceBinding } from "../platform/rpc/binding.js";
import { sentCallback } from "../platform/rpc/encode-self.js";
import { createInProcessTransport } from "../platform/rpc/in-process.js";
import { startServerSpan } from "../platform/tracing/index.js";

export const ARTIFACTS_PREFIX = "/registry/v1/models/";
const PATH = /^([^/]+)\/(versions|aliases)\/([^/]+)\/artifacts\/([^/]+)$/;
const VERSION_HEADER = "openloop-model-version";
const MAX_VERSION_HEADER_CHARS = 8192;
const SHA256 = /(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/]{43}=):\s*(?:,|;|$)/;
const M = RegistryService.method;

/** The artifact routes of the registry module, served by `binding`'s implementation. */
export function artifactHttpRoute(binding: ServiceBinding): HttpRoute {
  return { prefix: ARTIFACTS_PREFIX, create: (p) => createArtifactHandler(createClient(RegistryService, createInProcessTransport([binding])), p) };
}

interface Target {
  readonly name: string;
  /** "versions" or "aliases": what `ref` is. */
  readonly by: string;
  readonly ref: string;
  readonly artifact: string;
}

function createArtifactHandler(registry: Client<typeof RegistryService>, p: HttpRoutePlatform): RequestHandler {
  async function serve(call: ArtifactCall): Promise<void> {
    const admission = p.auth?.(call.method, call.req.headers.authorization);
    call.hold(isPromise(admission) ? await admission : admission);
    return call.method === M.registerModelVersion ? upload(call) : download(call);
  }

  async function upload(call: ArtifactCall): Promise<void> {
    const { req } = call;
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") throw new ConnectError(`content-encoding '${String(encoding).slice(0, 32)}' is not accepted: send the artifact as it is`, Code.InvalidArgument);
    const t = target(req);
    if (t.by !== "versions") throw new ConnectError("an upload names its version (…/versions/{version}/…), not an alias", Code.InvalidArgument);
    const header = versionHeader(req, t.name, t.ref);
    const sha256 = expectedDigest(req);
    const res = await registry.registerModelVersion(requests(header, t.artifact, sha256, req), { signal: call.abort.signal });
    const stored = res.modelVersion?.artifacts.find((a) => a.name === t.artifact);
    call.json(201, toJsonString(RegisterModelVersionResponseSchema, res), {
      "content-type": "application/json",
      ...(stored ? { "repr-digest": reprDigest(stored.sha256) } : {}),
    });
  }

  async function download(call: ArtifactCall): Promise<void> {
    const t = target(call.req);
    const selector: DownloadArtifactRequest["selector"] =
      t.by === "aliases" ? { case: "alias", value: t.ref } : t.ref === "latest" ? { case: undefined } : { case: "version", value: t.ref };
    const it = registry.downloadArtifact({ name: t.name, selector, artifactName: t.artifact }, { signal: call.abort.signal })[Symbol.asyncIterator]();
    try {
      const first = await it.next();
      if (first.done || first.value.part.case !== "header") throw new ConnectError("the download began without its header", Code.Internal);
      const { version, artifact } = first.value.part.value;
      call.res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": String(artifact!.sizeBytes),
        "repr-digest": reprDigest(artifact!.sha256),
        etag: `"${artifact!.sha256}"`,
        "content-disposition": `attachment; filename="${artifact!.name}"`,
        [VERSION_HEADER]: version,
      });
      if (call.req.method === "HEAD") return call.end();
      await sendBody(call, it);
    } finally {
      void it.return?.()?.catch(() => undefined);
    }
  }

  return function serveArtifacts(req, res) {
    const method = req.method === "PUT" ? M.registerModelVersion : req.method === "GET" || req.method === "HEAD" ? M.downloadArtifact : undefined;
    const call = new ArtifactCall(p, req, res as HttpRouteResponse, method ?? M.registerModelVersion);
    const route = (req.url ?? "").split("?")[0]!;
    call.span = startServerSpan(`${req.method ?? "?"} ${ARTIFACTS_PREFIX}{name}/…/artifacts/{artifact}`, req.headers, { "http.request.method": req.method ?? "", "url.path": route });
    const run = () => (method ? serve(call) : Promise.reject(new ConnectError(`${req.method ?? "?"} is not served here: PUT an artifact, or GET it`, Code.Unimplemented))).catch((err: unknown) => call.fail(err));
    if (call.span) call.span.run(run);
    else void run();
  };
}

/**
 * Writes the data messages' bytes as the body, each message's buffer given back once the socket
 * took it. The last chunk waits for the end of the stream: the registry re-hashes what it reads
 * and ends with DATA_LOSS after the last chunk when the file is corrupt, and a client must then
 * get a body cut short (the connection is reset), never all the bytes it was promised.
 */
async function sendBody(call: ArtifactCall, it: AsyncIterator<{ part: { case: string | undefined; value?: unknown } }>): Promise<void> {
  let held: { part: { case: string | undefined; value?: unknown } } | undefined;
  for (;;) {
    const next = await it.next();
    if (held) await write(call, held);
    if (next.done) break;
    held = next.value.part.case === "data" ? next.value : undefined;
  }
  call.end();
}

function write(call: ArtifactCall, message: { part: { case: string | undefined; value?: unknown } }): Promise<void> {
  const sent = sentCallback(message);
  const ok = call.res.write(message.part.value as Uint8Array, sent ? () => sent() : undefined);
  if (ok) return Promise.resolve();
  // Backpressure: the next chunk is read once the socket drains (or the call ends).
  return new Promise((resolve) => {
    const done = () => {
      call.res.off("drain", done);
      call.abort.signal.removeEventListener("abort", done);
      resolve();
    };
    call.res.once("drain", done);
    call.abort.signal.addEventListener("abort", done, { once: true });
  });
}

/** A call of these routes: failures in Connect's JSON error form, or a reset once the body began. */
class ArtifactCall extends HttpCall {
  end(): void {
    this.res.end();
    this.finish(undefined);
  }

  fail(err: unknown): void {
    if (!(err instanceof ConnectError)) this.p.log.error({ err }, "registry http: unexpected failure");
    const sent = hideInternals(err) as ConnectError;
    if (this.res.headersSent || this.res.writableFinished) {
      // Too late for a status: the client sees the body cut short.
      this.res.destroy(sent);
      return this.finish(err);
    }
    const headers: Record<string, string> = { "content-type": "application/json" };
    // A refused upload may still be sending: the connection closes after the answer instead of reading the rest.
    if (this.req.httpVersionMajor === 1 && !this.req.readableEnded) headers.connection = "close";
    this.json(codeToHttpStatus(sent.code), JSON.stringify(errorToJson(sent, undefined)), headers, err);
  }
}

function target(req: HttpRouteRequest): Target {
  const path = (req.url ?? "").split("?")[0]!.slice(ARTIFACTS_PREFIX.length);
  const m = PATH.exec(path);
  if (!m) throw new ConnectError(`expected ${ARTIFACTS_PREFIX}{name}/versions/{version}/artifacts/{artifact} (or …/aliases/{alias}/… to read)`, Code.NotFound);
  try {
    return { name: decodeURIComponent(m[1]!), by: m[2]!, ref: decodeURIComponent(m[3]!), artifact: decodeURIComponent(m[4]!) };
  } catch {
    throw new ConnectError("the path has a malformed percent-encoding", Code.InvalidArgument);
  }
}

/** The version's header: the JSON header's fields, with the name and version of the path. */
function versionHeader(req: HttpRouteRequest, name: string, version: string): ModelVersionHeader {
  const raw = req.headers[VERSION_HEADER];
  const json = Array.isArray(raw) ? raw.join(",") : raw;
  if (json === undefined) throw new ConnectError(`the ${VERSION_HEADER} header is required: the version's fields in JSON, at least {"type": "..."}`, Code.InvalidArgument);
  if (json.length > MAX_VERSION_HEADER_CHARS) throw new ConnectError(`the ${VERSION_HEADER} header is over ${MAX_VERSION_HEADER_CHARS} characters`, Code.InvalidArgument);
  let header: ModelVersionHeader;
  try {
    header = fromJsonString(ModelVersionHeaderSchema, json);
  } catch (err) {
    throw new ConnectError(`the ${VERSION_HEADER} header is not a ModelVersionHeader in JSON: ${(err as Error).message.slice(0, 200)}`, Code.InvalidArgument);
  }
  if ((header.name !== "" && header.name !== name) || (header.version !== "" && header.version !== version)) {
    throw new ConnectError(`the ${VERSION_HEADER} header names another model or version than the path`, Code.InvalidArgument);
  }
  header.name = name;
  header.version = version;
  return header;
}

/** The lowercase hex SHA-256 a Content-Digest or Repr-Digest (RFC 9530) gives, or "" without one. */
function expectedDigest(req: HttpRouteRequest): string {
  let sha = "";
  for (const field of ["content-digest", "repr-digest"]) {
    const raw = req.headers[field];
    if (raw === undefined) continue;
    const m = SHA256.exec(Array.isArray(raw) ? raw.join(",") : raw);
    if (!m) throw new ConnectError(`${field} must carry sha-256=:<base64 of the 32-byte digest>:`, Code.InvalidArgument);
    const hex = Buffer.from(m[1]!, "base64").toString("hex");
    if (sha !== "" && sha !== hex) throw new ConnectError("content-digest and repr-digest disagree", Code.InvalidArgument);
    sha = hex;
  }
  return sha;
}

function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, "hex").toString("base64")}:`;
}

/** RegisterModelVersion's messages: the header, then each piece of the body as it arrives. */
async function* requests(header: ModelVersionHeader, artifactName: string, sha256: string, body: HttpRouteRequest): AsyncGenerator<RegisterModelVersionRequest> {
  yield create(RegisterModelVersionRequestSchema, { part: { case: "header", value: header } });
  let first = true;
  try {
    for await (const data of body as AsyncIterable<Buffer>) {
      yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName, data, sha256: first ? sha256 : "" } } });
      first = false;
    }
  } catch {
    throw new ConnectError("the request body ended before its end (the client went away)", Code.Canceled);
  }
  // An empty body is an empty artifact.
  if (first) yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName, data: new Uint8Array(0), sha256 } } });
}
