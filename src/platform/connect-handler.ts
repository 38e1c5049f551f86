// The HTTP request handler of the port: connect-node for Connect and gRPC-Web (and gRPC on
// connections the gRPC server does not take), the platform's routes (/metrics, /auth/whoami), the
// web console, CORS and the default deadline. Auth and metrics come in as the platform's own
// gate and observer.
import type { HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { AuthGate } from "./auth.js";
import { isPromise } from "./is-promise.js";
import { reclassifyParseErrors } from "./errors.js";
import { notFound, staticHandler, unimplemented, withCors, withDefaultDeadline } from "./http.js";
import type { RequestHandler } from "./listener.js";
import type { RpcObserver } from "./observe.js";
import { routeOf, type Routes } from "./platform-routes.js";
import { mount, type ServiceBinding } from "./rpc/binding.js";
import { tracingInterceptors } from "./tracing/index.js";

export interface ConnectHandlerOptions {
  readonly bindings: readonly ServiceBinding[];
  readonly observer: RpcObserver;
  readonly auth: AuthGate | undefined;
  readonly maxMessageBytes: number;
  readonly defaultDeadlineMs: number;
  readonly corsOrigins: readonly string[];
  /** Where the console's files are; undefined when there is no console to serve. */
  readonly consoleDir: string | undefined;
  /** GET routes of the platform's own (platform-routes.ts). */
  readonly routes: Routes;
  readonly shutdown: AbortSignal;
  readonly log: Logger;
  /** Plain HTTP APIs by path prefix (see HttpRoute); they handle their own auth, CORS aside. */
  readonly httpRoutes?: ReadonlyArray<{ prefix: string; handler: RequestHandler }>;
}

// An RPC path: /package.Service/Method.
const RPC_PATH = /^\/[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+\/[^/]*$/;

export function createConnectHandler(opts: ConnectHandlerOptions): RequestHandler {
  const { observer, auth, log } = opts;
  const served = new Set(opts.bindings.map((b) => b.desc.typeName));

  // Runs for every call before its request is read; the observer records a refused call.
  const requestGate = (ctx: HandlerContext): void | Promise<void> => {
    reclassifyParseErrors(ctx);
    observer.admit(ctx);
    const admission = auth?.(ctx.method, ctx.requestHeader.get("authorization"));
    // connect-es awaits a gate that answers with a promise (limits kept in a shared Redis).
    return isPromise(admission) ? admission.then((release) => holdUntilEnd(ctx, release)) : holdUntilEnd(ctx, admission);
  };

  const serveConsole = opts.consoleDir ? staticHandler(opts.consoleDir) : undefined;
  const rpc = connectNodeAdapter({
    routes: (router) => mount(router, opts.bindings),
    interceptors: [...tracingInterceptors(), observer.interceptor],
    requestGate,
    readMaxBytes: opts.maxMessageBytes,
    writeMaxBytes: opts.maxMessageBytes,
    shutdownSignal: opts.shutdown,
    fallback(req, res) {
      if ((req.method === "GET" || req.method === "HEAD") && !RPC_PATH.test((req.url ?? "").split("?")[0])) {
        if (!serveConsole) return notFound(req, res);
        serveConsole(req, res).then(
          (found) => found || notFound(req, res),
          (err: unknown) => {
            log.warn({ err, url: req.url }, "serving console file failed");
            if (res.headersSent) return void res.destroy();
            res.writeHead(500);
            res.end();
          },
        );
        return;
      }
      unimplemented(req, res, served);
    },
  });

  const rpcWithDeadline = withDefaultDeadline(opts.defaultDeadlineMs, rpc);
  const httpRoutes = opts.httpRoutes ?? [];
  return withCors(opts.corsOrigins, (req, res) => {
    const route = routeOf(opts.routes, req);
    if (route) return route(req, res);
    const url = req.url ?? "/";
    for (const r of httpRoutes) if (url.startsWith(r.prefix)) return r.handler(req, res);
    rpcWithDeadline(req, res);
  });
}


/** Frees a stream slot when the call ends (connect-node aborts the call's signal then), or now if it already has. */
function holdUntilEnd(ctx: HandlerContext, release: (() => void) | undefined): void {
  if (!release) return;
  if (ctx.signal.aborted) release();
  else ctx.signal.addEventListener("abort", release, { once: true });
}
