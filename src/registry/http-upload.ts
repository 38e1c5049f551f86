// Registers a version with one artifact from a plain HTTP PUT of its bytes:
//
//   PUT /registry/v1/models/{name}/versions/{version}/artifacts/{artifact}
//   openloop-model-version: {"type": "gguf", "tags": ["prod"], ...}   (ModelVersionHeader in JSON)
//   content-digest: sha-256=:<base64>:                                  (optional, RFC 9530; or repr-digest)
//
// The body is the artifact as it is, so any HTTP client uploads it (`curl -T`) with none of the
// protobuf framing of RegisterModelVersion: the clients' CPU was most of what a gRPC upload cost
// on a shared machine (BENCHMARKS.md). It is RegisterModelVersion all the same: the request runs
// through the same implementation (header, then the body's chunks as they arrive, with
// backpressure), so the name rules, the hash, fsync, DATA_LOSS on a wrong digest, the upload
// limits, the key's scopes and the RPC's metrics are the RPC's. The answer is the
// RegisterModelVersionResponse in JSON (201), or the error in Connect's JSON form.
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import {
  ModelVersionHeaderSchema,
  RegisterModelVersionRequestSchema,
  RegisterModelVersionResponseSchema,
  RegistryService,
  type ModelVersionHeader,
  type RegisterModelVersionRequest,
} from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { HttpCall, type HttpRouteRequest, type HttpRouteResponse } from "../platform/http-call.js";
import { isPromise } from "../platform/is-promise.js";
import type { RequestHandler } from "../platform/listener.js";
import type { HttpRoute, HttpRoutePlatform } from "../platform/module.js";
import { hideInternals } from "../platform/observe.js";
import type { ServiceBinding } from "../platform/rpc/binding.js";
import { createInProcessTransport } from "../platform/rpc/in-process.js";
import { startServerSpan } from "../platform/tracing/index.js";

export const UPLOAD_PREFIX = "/registry/v1/models/";
const PATH = /^([^/]+)\/versions\/([^/]+)\/artifacts\/([^/]+)$/;
const VERSION_HEADER = "openloop-model-version";
const MAX_VERSION_HEADER_CHARS = 8192;
const SHA256 = /(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/]{43}=):\s*(?:,|;|$)/;

/** The PUT route of the registry module, served by `binding`'s implementation of RegisterModelVersion. */
export function artifactUploadRoute(binding: ServiceBinding): HttpRoute {
  return { prefix: UPLOAD_PREFIX, create: (p) => createUploadHandler(createClient(RegistryService, createInProcessTransport([binding])), p) };
}

function createUploadHandler(registry: Client<typeof RegistryService>, p: HttpRoutePlatform): RequestHandler {
  async function serve(call: UploadCall): Promise<void> {
    const { req } = call;
    const admission = p.auth?.(call.method, req.headers.authorization);
    call.hold(isPromise(admission) ? await admission : admission);
    if (req.method !== "PUT") throw new ConnectError(`${req.method ?? "?"} is not served here: PUT the artifact's bytes`, Code.Unimplemented);
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") throw new ConnectError(`content-encoding '${String(encoding).slice(0, 32)}' is not accepted: send the artifact as it is`, Code.InvalidArgument);
    const { name, version, artifact } = target(req);
    const header = versionHeader(req, name, version);
    const sha256 = expectedDigest(req);
    const res = await registry.registerModelVersion(requests(header, artifact, sha256, req), { signal: call.abort.signal });
    const stored = res.modelVersion?.artifacts.find((a) => a.name === artifact);
    call.json(201, toJsonString(RegisterModelVersionResponseSchema, res), {
      "content-type": "application/json",
      ...(stored ? { "repr-digest": `sha-256=:${Buffer.from(stored.sha256, "hex").toString("base64")}:` } : {}),
    });
  }

  return function serveUpload(req, res) {
    const call = new UploadCall(p, req, res as HttpRouteResponse, RegistryService.method.registerModelVersion);
    const route = (req.url ?? "").split("?")[0]!;
    call.span = startServerSpan(`PUT ${UPLOAD_PREFIX}{name}/versions/{version}/artifacts/{artifact}`, req.headers, { "http.request.method": req.method ?? "", "url.path": route });
    const run = () => serve(call).catch((err: unknown) => call.fail(err));
    if (call.span) call.span.run(run);
    else void run();
  };
}

/** A call of this route: failures in Connect's JSON error form; an unread body is not waited for. */
class UploadCall extends HttpCall {
  fail(err: unknown): void {
    if (!(err instanceof ConnectError)) this.p.log.error({ err }, "registry upload: unexpected failure");
    const sent = hideInternals(err) as ConnectError;
    if (this.res.headersSent || this.res.writableFinished) return this.finish(err);
    // A refused upload may still be sending: the connection closes after the answer instead of reading the rest.
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.req.httpVersionMajor === 1 && !this.req.readableEnded) headers.connection = "close";
    this.json(codeToHttpStatus(sent.code), JSON.stringify(errorToJson(sent, undefined)), headers, err);
  }
}

function target(req: HttpRouteRequest): { name: string; version: string; artifact: string } {
  const path = (req.url ?? "").split("?")[0]!.slice(UPLOAD_PREFIX.length);
  const m = PATH.exec(path);
  if (!m) throw new ConnectError(`expected ${UPLOAD_PREFIX}{name}/versions/{version}/artifacts/{artifact}`, Code.NotFound);
  try {
    return { name: decodeURIComponent(m[1]!), version: decodeURIComponent(m[2]!), artifact: decodeURIComponent(m[3]!) };
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
