// Serves a set of service bindings on one port: health and reflection beside them, auth,
// metrics and logging around every call, gRPC through grpc-js and everything else through
// connect-node, behind the one-port listener. Knows nothing of the services themselves.
import { existsSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino, type DestinationStream, type Logger } from "pino";
import { collectDefaultMetrics, Registry as MetricsRegistry } from "prom-client";
import { ConfigError, type Config } from "../config.js";
import { checkExposure, createAuthGate } from "./auth.js";
import { createConnectHandler } from "./connect-handler.js";
import { createGrpcServer } from "./grpc/server.js";
import { HealthState, healthService } from "./health.js";
import { createListener } from "./listener.js";
import { createRpcObserver } from "./observe.js";
import { traceLogFields } from "./tracing/index.js";
import { DescriptorIndex, documentedDescriptors, reflectionServices, REFLECTION_SERVICES } from "./reflection.js";
import type { ServiceBinding } from "./rpc/binding.js";

/** Where `buf generate` writes; reflection reads the commented descriptors from here. */
const GEN_DIR = path.resolve(import.meta.dirname, "../../gen");

/** What the platform serves: the services' bindings, and how to release them. */
export interface ServedServices {
  bindings(): readonly ServiceBinding[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Where to resolve relative paths (server.consoleDir); defaults to the working directory. */
  cwd?: string;
  /** Where the service modules' metrics live; /metrics serves them with the platform's. */
  metrics: MetricsRegistry;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  /** Base URL of the server, e.g. http://127.0.0.1:50051. */
  readonly url: string;
  readonly health: HealthState;
  readonly log: Logger;
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
  );
}

/** Starts serving `services` on server.host:server.port. On failure, closes them. */
export async function serve(config: Config, services: ServedServices, log: Logger, opts: ServeOptions): Promise<RunningServer> {
  const sc = config.server;
  try {
    const own = services.bindings();
    const health = new HealthState(own.map((b) => b.desc.typeName));
    const bindings = [...own, healthService(health)];
    const index = descriptorIndex(bindings, log);
    bindings.push(...reflectionServices(index));

    const observer = createRpcObserver(opts.metrics, log);
    const auth = createAuthGate(sc.apiKeys);
    const shutdown = new AbortController();
    const consoleDir = path.resolve(opts.cwd ?? process.cwd(), sc.consoleDir);

    const grpc = createGrpcServer({
      bindings,
      observer,
      auth,
      maxMessageBytes: sc.maxMessageBytes,
      defaultDeadlineMs: sc.defaultDeadlineMs,
      keepalive: sc.keepalive,
      shutdown: shutdown.signal,
    });
    const handler = createConnectHandler({
      bindings,
      observer,
      auth,
      maxMessageBytes: sc.maxMessageBytes,
      defaultDeadlineMs: sc.defaultDeadlineMs,
      corsOrigins: sc.corsOrigins,
      consoleDir: existsSync(consoleDir) ? consoleDir : undefined,
      metrics: [opts.metrics, processMetrics()],
      shutdown: shutdown.signal,
      log,
    });
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
        await services.close();
        log.info("stopped");
      })());

    return { port, host: sc.host, url, health, log, close };
  } catch (err) {
    await services.close();
    throw err;
  }
}
