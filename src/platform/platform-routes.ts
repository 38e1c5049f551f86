// The platform's own HTTP routes beside the RPCs: GET /metrics (open, behind a key, or
// moved to a listener of its own: metrics.listen) and GET /auth/whoami (the caller's key
// and scopes, for the console).
import http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Auth } from "./auth.js";
import type { MetricsConfig } from "./auth-config.js";
import { notFound, type Handler, type Req, type Res } from "./http.js";

/** GET/HEAD routes by path (no query). */
export type Routes = ReadonlyMap<string, Handler>;

export const WHOAMI_PATH = "/auth/whoami";

/**
 * The routes the main port serves. /metrics is there unless metrics.listen moves it; it needs
 * a key with `metrics:read` (or `admin`) when keys are configured, unless metrics.public.
 */
export function platformRoutes(config: MetricsConfig, auth: Auth, serveMetrics: Handler): Routes {
  const routes = new Map<string, Handler>([[WHOAMI_PATH, whoami(auth)]]);
  if (config.listen !== undefined) routes.set("/metrics", movedTo(config.listen)); // not the console's page fallback
  else routes.set("/metrics", auth.required && !config.public ? withMetricsKey(auth, serveMetrics) : serveMetrics);
  return routes;
}

/** The route for a request's path, for GET and HEAD. */
export function routeOf(routes: Routes, req: Req): Handler | undefined {
  if (req.method !== "GET" && req.method !== "HEAD") return undefined;
  return routes.get((req.url ?? "").split("?")[0]);
}

function whoami(auth: Auth): Handler {
  return (req, res) => {
    let body: unknown;
    try {
      body = auth.describe(header(req));
    } catch (err) {
      return refuse(res, ConnectError.from(err));
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : JSON.stringify(body));
  };
}

function movedTo(listen: string): Handler {
  return (_req, res) => {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end(`metrics are served on ${listen} (metrics.listen)\n`);
  };
}

function withMetricsKey(auth: Auth, next: Handler): Handler {
  return (req, res) => {
    try {
      auth.checkMetricsAccess(header(req));
    } catch (err) {
      return refuse(res, ConnectError.from(err));
    }
    next(req, res);
  };
}

function header(req: Req): string | undefined {
  const value = req.headers.authorization;
  return Array.isArray(value) ? value[0] : value;
}

/** 401 or 403 with the error in Connect's JSON form, which the console reads as it reads RPC errors. */
function refuse(res: Res, err: ConnectError): void {
  const unauthenticated = err.code === Code.Unauthenticated;
  res.writeHead(unauthenticated ? 401 : 403, {
    "content-type": "application/json",
    ...(unauthenticated ? { "www-authenticate": 'Bearer realm="openloop"' } : {}),
  });
  res.end(JSON.stringify({ code: unauthenticated ? "unauthenticated" : "permission_denied", message: err.rawMessage }));
}

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics alone on `listen` (host:port): an address only the scraper can reach, no key. */
export async function listenMetrics(listen: string, serveMetrics: Handler, log: Logger): Promise<MetricsListener> {
  const at = listen.lastIndexOf(":");
  const host = listen.slice(0, at).replace(/^\[|\]$/g, "");
  const routes: Routes = new Map([["/metrics", serveMetrics]]);
  const server = http.createServer((req, res) => (routeOf(routes, req) ?? notFound)(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(listen.slice(at + 1)), host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  log.info({ metrics: `http://${listen.slice(0, at)}:${port}/metrics` }, "metrics listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
