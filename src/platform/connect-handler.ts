// The HTTP request handler of the port: connect-node for Connect and gRPC-Web (and gRPC on
// connections grpc-js does not take), GET /metrics, the web console, CORS and the default
// deadline. Auth and metrics come in as the platform's own gate and observer.
import { Code, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { Registry as MetricsRegistry } from "prom-client";
import type { AuthGate } from "./auth.js";
import { reclassifyParseErrors } from "./errors.js";
import { metricsHandler, notFound, staticHandler, unimplemented, withCors, withDefaultDeadline } from "./http.js";
import type { RequestHandler } from "./listener.js";
import type { RpcObserver } from "./observe.js";
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
  readonly metrics: readonly MetricsRegistry[];
  readonly shutdown: AbortSignal;
  readonly log: Logger;
}

// An RPC path: /package.Service/Method.
const RPC_PATH = /^\/[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+\/[^/]*$/;

export function createConnectHandler(opts: ConnectHandlerOptions): RequestHandler {
  const { observer, auth, log } = opts;
  const served = new Set(opts.bindings.map((b) => b.desc.typeName));

  // Runs for every call before its request is read.
  const requestGate = (ctx: HandlerContext) => {
    reclassifyParseErrors(ctx);
    if (!auth) return;
    try {
      auth(ctx.service.typeName, ctx.requestHeader.get("authorization"));
    } catch (err) {
      observer.record(ctx.method, Code.Unauthenticated, 0, err);
      throw err;
    }
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

  const serveMetrics = metricsHandler(opts.metrics, log);
  return withCors(
    opts.corsOrigins,
    withDefaultDeadline(opts.defaultDeadlineMs, (req, res) => {
      if ((req.method === "GET" || req.method === "HEAD") && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
        return serveMetrics(req, res);
      }
      rpc(req, res);
    }),
  );
}

