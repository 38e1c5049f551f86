// Builds the running server: service modules + health + reflection on one router,
// with auth, metrics, logging and limits, behind the one-port listener.
import { existsSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { pino, type Logger } from "pino";
import { collectDefaultMetrics, Registry as MetricsRegistry } from "prom-client";
import { ConfigError, type Config } from "../config.js";
import { createServices, type ServiceExtensions, type Services } from "../server.js";
import { checkExposure, createAuthGate } from "./auth.js";
import { reclassifyParseErrors } from "./errors.js";
import { HealthState, healthRoutes } from "./health.js";
import { metricsHandler, notFound, staticHandler, unimplemented, withCors, withDefaultDeadline } from "./http.js";
import { createListener, type RequestHandler } from "./listener.js";
import { createRpcObserver } from "./observe.js";
import { DescriptorIndex, documentedDescriptors, mountedServices, reflectionRoutes } from "./reflection.js";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";

/** Where `buf generate` writes; reflection reads the commented descriptors from here. */
const GEN_DIR = path.resolve(import.meta.dirname, "../../gen");

/**
 * The whole public contract. A service that no module serves yet is still mounted with
 * no methods, so reflection shows the full contract and every call answers UNIMPLEMENTED.
 */
const CONTRACT = [LLMService, PipelineService, RegistryService, FeatureService, FeedbackService];

export interface StartOptions {
  /** Logger to use; by default a pino logger at config.log.level writing JSON to stdout. */
  log?: Logger;
  /** Where to resolve relative paths (server.consoleDir); defaults to the working directory. */
  cwd?: string;
  /** Custom pipeline steps and other additions of a program embedding openloop. */
  extensions?: ServiceExtensions;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  /** Base URL of the server, e.g. http://127.0.0.1:50051. */
  readonly url: string;
  readonly services: Services;
  readonly health: HealthState;
  readonly log: Logger;
  /**
   * Graceful shutdown: health turns NOT_SERVING, the port stops accepting, in-flight
   * calls get up to `graceMs` (default server.shutdownGraceMs) to finish, then are
   * aborted; finally every module closes. Safe to call more than once.
   */
  close(graceMs?: number): Promise<void>;
}

let processRegistry: MetricsRegistry | undefined;

/**
 * Node's process metrics (CPU, memory, GC, event loop), collected once per process:
 * their collectors (a GC observer, an event-loop monitor) cannot be stopped, so servers
 * started one after another in one process (tests, embedding programs) share them.
 */
function processMetrics(): MetricsRegistry {
  if (!processRegistry) {
    processRegistry = new MetricsRegistry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.log.level, base: { pid: process.pid } });
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config);
  const { server: sc } = config;
  checkExposure(config, log);
  if (sc.tls) {
    for (const [key, file] of [["certFile", sc.tls.certFile], ["keyFile", sc.tls.keyFile]] as const) {
      if (!existsSync(file)) throw new ConfigError(`server.tls.${key}: file '${file}' does not exist`);
    }
  }

  const metrics = new MetricsRegistry();
  const services = await createServices(config, log, metrics, opts.extensions);
  try {
    const health = new HealthState(services.modules.flatMap((m) => m.serviceNames));
    const observer = createRpcObserver(metrics, log);
    const shutdown = new AbortController();

    let index: DescriptorIndex | undefined;
    const placeholders = new Set<string>();
    const routes = (router: ConnectRouter) => {
      services.routes(router);
      const served = new Set(mountedServices(router).map((d) => d.typeName));
      for (const desc of CONTRACT) {
        if (served.has(desc.typeName)) continue;
        router.service(desc, {});
        placeholders.add(desc.typeName);
      }
      healthRoutes(health)(router);
      reflectionRoutes(() => index!)(router);
    };
    const authGate = createAuthGate(sc.apiKeys);
    // Runs for every call before its request is read.
    const requestGate = (ctx: HandlerContext) => {
      reclassifyParseErrors(ctx);
      if (!authGate) return;
      try {
        authGate(ctx);
      } catch (err) {
        observer.record(ctx.method, Code.Unauthenticated, 0, err);
        throw err;
      }
    };

    let mounted: ReadonlySet<string> = new Set();
    const consoleDir = path.resolve(opts.cwd ?? process.cwd(), sc.consoleDir);
    const serveConsole = staticHandler(consoleDir);
    const rpc = connectNodeAdapter({
      routes: (router) => {
        routes(router);
        index = new DescriptorIndex(
          mountedServices(router),
          documentedDescriptors(GEN_DIR, (file) => log.warn({ file }, "gen/ is stale: its commented descriptor differs from the generated code; run `npx buf generate`")),
        );
        mounted = new Set(index.serviceNames);
      },
      interceptors: [observer.interceptor],
      requestGate,
      readMaxBytes: sc.maxMessageBytes,
      writeMaxBytes: sc.maxMessageBytes,
      shutdownSignal: shutdown.signal,
      fallback(req, res) {
        const looksLikeRpc = /^\/[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+\/[^/]*$/.test((req.url ?? "").split("?")[0]);
        if ((req.method === "GET" || req.method === "HEAD") && !looksLikeRpc) {
          if (!serveConsole) return notFound(req, res);
          serveConsole(req, res).then(
            (served) => served || notFound(req, res),
            (err: unknown) => {
              log.warn({ err, url: req.url }, "serving console file failed");
              if (res.headersSent) return void res.destroy();
              res.writeHead(500);
              res.end();
            },
          );
          return;
        }
        unimplemented(req, res, mounted);
      },
    });
    // Services without an implementation are not reported at all (health answers NOT_FOUND for them).
    for (const name of mounted) if (!placeholders.has(name) && health.get(name) === undefined) health.set(name, "SERVING");

    const serveMetrics = metricsHandler([metrics, processMetrics()], log);
    const handler: RequestHandler = withCors(
      sc.corsOrigins,
      withDefaultDeadline(sc.defaultDeadlineMs, (req, res) => {
        if ((req.method === "GET" || req.method === "HEAD") && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
          return serveMetrics(req, res);
        }
        rpc(req, res);
      }),
    );

    const listener = createListener({ handler, log, tls: sc.tls });
    const port = await listener.listen(sc.port, sc.host);
    const hostForUrl = sc.host.includes(":") ? `[${sc.host}]` : sc.host;
    const url = `${sc.tls ? "https" : "http"}://${hostForUrl}:${port}`;
    log.info(
      { url, host: sc.host, port, tls: Boolean(sc.tls), auth: sc.apiKeys.length > 0, services: [...mounted], console: serveConsole ? consoleDir : null },
      "openloop listening",
    );

    let closing: Promise<void> | undefined;
    const close = (graceMs = sc.shutdownGraceMs) =>
      (closing ??= (async () => {
        log.info({ graceMs }, "shutting down");
        health.shutdown();
        await listener.close(graceMs, () => shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable)));
        await services.close();
        log.info("stopped");
      })());

    return { port, host: sc.host, url, services, health, log, close };
  } catch (err) {
    await services.close();
    throw err;
  }
}
