// Everything on the port that is not an RPC handler: CORS, the default deadline,
// GET /metrics, the static web console, and protocol-correct answers for unknown
// services and methods.
import { createReadStream, promises as fs, existsSync, statSync } from "node:fs";
import path from "node:path";
import { cors as connectCors, Code } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import { encodeGrpcMessage, quote } from "./errors.js";

/** What this file needs of a request; node's HTTP/1.1 and HTTP/2 compat requests both fit. */
export interface Req {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
}
/** What this file needs of a response; node's HTTP/1.1 and HTTP/2 compat responses both fit. */
export interface Res {
  readonly headersSent: boolean;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  setHeader(name: string, value: string): unknown;
  end(data?: string | Uint8Array): this;
  destroy(): unknown;
  /** Present on HTTP/2 responses only. */
  readonly stream?: { respond(headers: Record<string, string | number>, options: { endStream: boolean }): void };
}
type Handler = (req: Req, res: Res) => void;

// --- CORS -------------------------------------------------------------------

const ALLOWED_HEADERS = [...connectCors.allowedHeaders, "Authorization"].join(", ");
const ALLOWED_METHODS = connectCors.allowedMethods.join(", ");
const EXPOSED_HEADERS = connectCors.exposedHeaders.join(", ");

/**
 * Wraps a handler with CORS for the configured origins (exact origins, or "*").
 * Preflights from an allowed origin get 204; from any other origin 403.
 */
export function withCors<Q extends Req, S extends Res>(origins: readonly string[], next: (req: Q, res: S) => void): (req: Q, res: S) => void {
  if (origins.length === 0) return next;
  const any = origins.includes("*");
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return next(req, res);
    const ok = any || allowed.has(origin);
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    if (preflight) {
      if (!ok) {
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8", vary: "Origin" });
        res.end(`origin ${origin} is not allowed; add it to server.corsOrigins\n`);
        return;
      }
      res.writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": "7200",
        vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      });
      res.end();
      return;
    }
    if (ok) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
      res.setHeader("vary", "Origin");
    }
    next(req, res);
  };
}

// --- default deadline ---------------------------------------------------------

/**
 * Gives calls that arrive without a deadline the configured one, by adding the
 * protocol's timeout header before the RPC layer reads it; handlers then see it
 * in ctx.timeoutMs() and ctx.signal like a client-set deadline.
 */
export function withDefaultDeadline<Q extends Req, S extends Res>(ms: number, next: (req: Q, res: S) => void): (req: Q, res: S) => void {
  if (ms <= 0) return next;
  const grpcTimeout = `${Math.min(ms, 99_999_999)}m`;
  const connectTimeout = String(ms);
  return (req, res) => {
    const h = req.headers;
    if (h["grpc-timeout"] === undefined && h["connect-timeout-ms"] === undefined) {
      const type = h["content-type"];
      if (typeof type === "string" && type.startsWith("application/grpc")) h["grpc-timeout"] = grpcTimeout;
      else h["connect-timeout-ms"] = connectTimeout;
    }
    next(req, res);
  };
}

// --- /metrics ------------------------------------------------------------------

/** GET /metrics: the registries' series, one after the other, in the Prometheus text format. */
export function metricsHandler(registries: readonly Registry[], log: Logger): Handler {
  return (req, res) => {
    Promise.all(registries.map((r) => r.metrics())).then(
      (texts) => {
        res.writeHead(200, { "content-type": registries[0].contentType, "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : texts.join("\n"));
      },
      (err: unknown) => {
        log.error({ err }, "collecting metrics failed");
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("collecting metrics failed\n");
      },
    );
  };
}

// --- web console (static files) ---------------------------------------------------

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
};

/**
 * Serves files below `dir` for GET/HEAD; `/` and directories serve index.html, and
 * extension-less paths that match no file fall back to index.html (client-side
 * routes). Paths that would leave `dir` (.., encoded slashes, symlinks out) are 404.
 * Returns undefined when `dir` does not exist.
 */
export function staticHandler(dir: string): ((req: Req, res: Res) => Promise<boolean>) | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const rootPromise = fs.realpath(dir);

  async function resolveFile(root: string, urlPath: string): Promise<string | undefined> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return undefined;
    }
    if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
    const candidate = path.resolve(root, "." + path.posix.normalize("/" + decoded));
    if (candidate !== root && !candidate.startsWith(root + path.sep)) return undefined;
    try {
      let real = await fs.realpath(candidate);
      if (real !== root && !real.startsWith(root + path.sep)) return undefined;
      if ((await fs.stat(real)).isDirectory()) real = path.join(real, "index.html");
      if ((await fs.stat(real)).isFile()) return real;
    } catch {
      // not found: fall through
    }
    return undefined;
  }

  return async (req, res) => {
    const root = await rootPromise;
    const urlPath = (req.url ?? "/").split("?")[0];
    let file = await resolveFile(root, urlPath);
    if (!file && path.posix.extname(urlPath) === "") file = await resolveFile(root, "/index.html");
    if (!file) return false;
    const stat = await fs.stat(file);
    const isIndex = path.basename(file) === "index.html";
    res.writeHead(200, {
      "content-type": CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": String(stat.size),
      "cache-control": isIndex ? "no-cache" : "public, max-age=3600",
      "x-content-type-options": "nosniff",
    });
    if (req.method === "HEAD") {
      res.end();
      return true;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.on("error", () => {
        res.destroy();
        resolve();
      });
      stream.on("end", resolve);
      stream.pipe(res as unknown as NodeJS.WritableStream); // both node response types are Writables
    });
    return true;
  };
}

// --- requests that match no RPC ----------------------------------------------------------

/**
 * Answers a request for an RPC path the router does not serve, in the caller's
 * protocol, so every client sees UNIMPLEMENTED with a message naming what is missing.
 */
export function unimplemented(req: Req, res: Res, mountedServices: ReadonlySet<string>): void {
  const [, service = "", method = ""] = /^\/([^/]*)\/([^/?]*)/.exec(req.url ?? "") ?? [];
  const message = mountedServices.has(service)
    ? `unknown method '${quote(method)}' of service ${service}`
    : `unknown service '${quote(service)}'; grpc.reflection.v1.ServerReflection lists the services`;
  const type = String(req.headers["content-type"] ?? "");
  if (type.startsWith("application/grpc")) {
    // A trailers-only response: the status travels in the only HEADERS frame (gRPC)
    // or in the response headers (gRPC-Web).
    const headers = {
      "content-type": type.startsWith("application/grpc-web") ? "application/grpc-web+proto" : "application/grpc",
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": encodeGrpcMessage(message),
    };
    if (res.stream) res.stream.respond({ ":status": 200, ...headers }, { endStream: true });
    else {
      res.writeHead(200, headers);
      res.end();
    }
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
}

export function notFound(_req: Req, res: Res): void {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("not found\n");
}
