// Serves a set of service bindings on one port: health and reflection beside them, auth,
// metrics and logging around every call, gRPC through our own HTTP/2 transport (or grpc-js,
// server.grpcServer) and everything else through
// connect-node, behind the one-port listener. Knows nothing of the services themselves.
import { existsSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino, type DestinationStream, type Logger } from "pino";
import { collectDefaultMetrics, Registry as MetricsRegistry } from "prom-client";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { ConfigError, type Config } from "../config.js";
import { Auth, checkExposure } from "./auth.js";
import { createConnectHandler } from "./connect-handler.js";
import { createNativeGrpcServer } from "./grpc/native-server.js";
import { HealthState, healthService, type ServiceDependency } from "./health.js";
import { metricsHandler } from "./http.js";
import { createListener } from "./listener.js";
import { createRpcObserver } from "./observe.js";
import { listenMetrics, platformRoutes, type MetricsListener } from "./platform-routes.js";
import { MemoryRateLimiter, type RateLimiter } from "./rate-limit.js";
import { traceLogFields } from "./tracing/index.js";
import { DescriptorIndex, documentedDescriptors, reflectionServices, REFLECTION_SERVICES } from "./reflection.js";
import type { HttpRoute } from "./module.js";
import type { ServiceBinding } from "./rpc/binding.js";

/** Where `buf generate` writes; reflection reads the commented descriptors from here. */
const GEN_DIR = path.resolve(import.meta.dirname, "../../gen");

/** What the platform serves: the services' bindings, and how to release them. */
export interface ServedServices {
  bindings(): readonly ServiceBinding[];
  /** Plain HTTP APIs beside the RPCs. */
  httpRoutes?(): readonly HttpRoute[];
  close(): Promise<void>;
  /** What the services need to serve; health follows each. */
  dependencies?(): readonly ServiceDependency[];
}

export interface ServeOptions {
  /** Where to resolve relative paths (server.consoleDir); defaults to the working directory. */
  cwd?: string;
  /** Where the service modules' metrics live; /metrics serves them with the platform's. */
  metrics: MetricsRegistry;
  /** Where API keys' limits are kept; by default in this process. */
  limiter?: RateLimiter;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  /** Base URL of the server, e.g. http://127.0.0.1:50051. */
  readonly url: string;
  readonly health: HealthState;
  readonly log: Logger;
  /** The port of the separate /metrics listener (metrics.listen), if there is one. */
  readonly metricsPort: number | undefined;
  /**
   * Graceful shutdown: health turns NOT_SERVING, the port stops accepting, in-flight
   * calls get up to `graceMs` (default server.shutdownGraceMs) to finish, then are
   * aborted; finally every service closes. Safe to call more than once.
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

/** The server's logger; with tracing configured, each line logged inside a span carries trace_id and span_id. */
export function createLogger(config: Config, destination?: DestinationStream): Logger {
  const mixin = config.telemetry.otlp.endpoint ? traceLogFields : undefined;
  const options = { level: config.log.level, base: { pid: process.pid }, mixin };
  return destination ? pino(options, destination) : pino(options);
}

/** Refuses settings that cannot work before anything starts. */
export function checkServerConfig(config: Config, log: Logger): void {
  checkExposure(config, log);
  const { tls } = config.server;
  if (!tls) return;
  for (const [key, file] of [["certFile", tls.certFile], ["keyFile", tls.keyFile]] as const) {
    if (!existsSync(file)) throw new ConfigError(`server.tls.${key}: file '${file}' does not exist`);
  }
}

/** Builds the index reflection answers from: every served service, with the contract's comments. */
function descriptorIndex(bindings: readonly ServiceBinding[], log: Logger): DescriptorIndex {
  return new DescriptorIndex(
    [...bindings.map((b) => b.desc), ...REFLECTION_SERVICES],
    documentedDescriptors(GEN_DIR, (file) => log.warn({ file }, "gen/ is stale: its commented descriptor differs from the generated code; run `npx buf generate`")),
    // So that grpcurl and other reflection clients can decode google.rpc details (RetryInfo, BadRequest).
    [file_google_rpc_error_details],
  );
}

/** Starts serving `services` on server.host:server.port. On failure, closes them. */
export async function serve(config: Config, services: ServedServices, log: Logger, opts: ServeOptions): Promise<RunningServer> {
  const sc = config.server;
  let metricsListener: MetricsListener | undefined;
  try {
    const own = services.bindings();
    const health = new HealthState(own.map((b) => b.desc.typeName));
    for (const dep of services.dependencies?.() ?? []) health.follow(dep);
    const bindings = [...own, healthService(health)];
    const index = descriptorIndex(bindings, log);
    bindings.push(...reflectionServices(index));

    const observer = createRpcObserver(opts.metrics, log);
    const auth = new Auth({ keys: sc.apiKeys, limiter: opts.limiter ?? new MemoryRateLimiter(), metrics: opts.metrics, log });
    const gate = auth.gate();
    const serveMetrics = metricsHandler([opts.metrics, processMetrics()], log);
    const shutdown = new AbortController();
    const consoleDir = path.resolve(opts.cwd ?? process.cwd(), sc.consoleDir);

    // grpc-js (about 3 MB of heap) is loaded only when it is the configured server.
    const createGrpc = sc.grpcServer === "openloop" ? createNativeGrpcServer : (await import("./grpc/server.js")).createGrpcServer;
    const grpc = createGrpc({
      bindings,
      observer,
      auth: gate,
      maxMessageBytes: sc.maxMessageBytes,
      defaultDeadlineMs: sc.defaultDeadlineMs,
      keepalive: sc.keepalive,
      shutdown: shutdown.signal,
      log,
    });
    const handler = createConnectHandler({
      bindings,
      observer,
      auth: gate,
      maxMessageBytes: sc.maxMessageBytes,
      defaultDeadlineMs: sc.defaultDeadlineMs,
      corsOrigins: sc.corsOrigins,
      consoleDir: existsSync(consoleDir) ? consoleDir : undefined,
      routes: platformRoutes(config.metrics, auth, serveMetrics),
      shutdown: shutdown.signal,
      log,
      httpRoutes: (services.httpRoutes?.() ?? []).map((r) => ({
        prefix: r.prefix,
        handler: r.create({ auth: gate, observer, maxMessageBytes: sc.maxMessageBytes, defaultDeadlineMs: sc.defaultDeadlineMs, shutdown: shutdown.signal, log }),
      })),
    });
    if (config.metrics.listen !== undefined) metricsListener = await listenMetrics(config.metrics.listen, serveMetrics, log);
    const listener = createListener({ handler, grpc, log, metrics: opts.metrics, tls: sc.tls });
    const port = await listener.listen(sc.port, sc.host);
    const hostForUrl = sc.host.includes(":") ? `[${sc.host}]` : sc.host;
    const url = `${sc.tls ? "https" : "http"}://${hostForUrl}:${port}`;
    log.info(
      { url, host: sc.host, port, tls: Boolean(sc.tls), auth: sc.apiKeys.length > 0, services: index.serviceNames, console: existsSync(consoleDir) ? consoleDir : null },
      "openloop listening",
    );

    let closing: Promise<void> | undefined;
    const close = (graceMs = sc.shutdownGraceMs) =>
      (closing ??= (async () => {
        log.info({ graceMs }, "shutting down");
        health.shutdown();
        await listener.close(graceMs, () => shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable)));
        await metricsListener?.close();
        await services.close();
        log.info("stopped");
      })());

    return { port, host: sc.host, url, health, log, metricsPort: metricsListener?.port, close };
  } catch (err) {
    await metricsListener?.close();
    await services.close();
    throw err;
  }
}
