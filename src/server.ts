// Composition root: config -> service modules -> the platform that serves them.
import type { Transport } from "@connectrpc/connect";
import { pino, type Logger } from "pino";
import { Registry as MetricsRegistry } from "prom-client";
import type { Config } from "./config.js";
import { checkServerConfig, createLogger, serve, type RunningServer } from "./platform/app.js";
import type { RateLimiter } from "./platform/rate-limit.js";
import { RedisRateLimiter } from "./platform/redis-rate-limit.js";
import type { HttpRoute, PlatformContext, ServiceModule } from "./platform/module.js";
import type { ServiceDependency } from "./platform/health.js";
import type { ServiceBinding } from "./platform/rpc/binding.js";
import { createInProcessTransport } from "./platform/rpc/in-process.js";
import { startTracing, traceTransport } from "./platform/tracing/index.js";
import { createRegistryModule } from "./registry/module.js";
import { createLlmModule } from "./llm/module.js";
import { createFeatureModule } from "./feature/module.js";
import { createFeedbackModule } from "./feedback/module.js";
import { createPipelineModule } from "./pipeline/module.js";
import type { StepRegistry } from "./pipeline/registry.js";
import type { SharedMetadata } from "./platform/postgres/shared-metadata.js";
import { reportPostgresHealth } from "./platform/postgres/health.js";
import { FeatureService } from "../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService } from "../gen/openloop/feedback/v1/feedback_service_pb.js";
import { PipelineService } from "../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { RegistryService } from "../gen/openloop/registry/v1/registry_service_pb.js";

/** Services whose durable state is in PostgreSQL under storage: shared (health reports it per service). */
const SHARED_METADATA_SERVICES = [RegistryService, PipelineService, FeatureService, FeedbackService].map((s) => s.typeName);

export type { RunningServer };
export { createLogger } from "./platform/app.js";

export interface StartOptions {
  /** Logger to use; by default a pino logger at config.log.level writing JSON to stdout. */
  log?: Logger;
  /** Where to resolve relative paths (server.consoleDir); defaults to the working directory. */
  cwd?: string;
  /** Custom pipeline steps and other additions of a program embedding openloop. */
  extensions?: ServiceExtensions;
  /** Where API keys' limits are kept; by default in this process. */
  limiter?: RateLimiter;
}

/** A running server, with the services it runs. */
export interface OpenloopServer extends RunningServer {
  readonly services: Services;
}

/** Builds every service and serves them on the configured port. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<OpenloopServer> {
  const log = opts.log ?? createLogger(config);
  checkServerConfig(config, log);
  const metrics = new MetricsRegistry();
  // Before the services: their stores and transports are wrapped in spans only when tracing runs.
  const tracing = await startTracing(config.telemetry, log);
  let running: RunningServer;
  let services: Services;
  let keyLimits: RedisRateLimiter | undefined;
  try {
    keyLimits = opts.limiter ? undefined : await sharedKeyLimits(config, log);
    services = await createServices(config, log, metrics, opts.extensions);
    running = await serve(config, services, log, { cwd: opts.cwd, metrics, limiter: opts.limiter ?? keyLimits });
    if (services.shared) reportPostgresHealth(running.health, services.shared.changes, SHARED_METADATA_SERVICES);
  } catch (err) {
    await keyLimits?.close();
    await tracing.shutdown();
    throw err;
  }
  // Spans still queued are exported after the last call ended.
  const close = async (graceMs?: number) => {
    await running.close(graceMs);
    await keyLimits?.close();
    await tracing.shutdown();
  };
  return { ...running, close, services };
}

/**
 * API keys' limits held across replicas: kept in redis.url whenever it is set and a key has
 * limits (src/platform/redis-rate-limit.ts says why a Redis call per limited call); else each
 * process keeps its own.
 */
async function sharedKeyLimits(config: Config, log: Logger): Promise<RedisRateLimiter | undefined> {
  const limited = config.server.apiKeys.some((k) => typeof k !== "string" && k.limits !== undefined);
  if (!config.redis?.url || !limited) return undefined;
  return RedisRateLimiter.open({ url: config.redis.url, policy: config.redis, keyPrefix: KEY_LIMITS_PREFIX, leaseTtlMs: KEY_STREAM_LEASE_TTL_MS, log, name: "API key limits" });
}

/** Replicas on one Redis share their keys' budgets under this prefix. */
const KEY_LIMITS_PREFIX = "openloop:auth:limit:v1:";
/** A stream slot held by a replica that died is free again after this long. */
const KEY_STREAM_LEASE_TTL_MS = 10_000;

/** What a program embedding openloop adds to the built-in services. */
export interface ServiceExtensions {
  /** The pipeline step catalog, with custom steps registered (default: the built-in steps). */
  readonly pipelineSteps?: StepRegistry;
}

export interface Services {
  readonly modules: readonly ServiceModule[];
  readonly ctx: PlatformContext;
  /** Every module's services, in module order. */
  bindings(): ServiceBinding[];
  /** Every module's plain HTTP APIs (the OpenAI-compatible /v1/*). */
  httpRoutes(): HttpRoute[];
  /** What the services need to serve (health follows it). */
  dependencies(): ServiceDependency[];
  /** Calls any of the services in process (embedding programs, tests). */
  readonly internal: Transport;
  /** The PostgreSQL side of storage: shared, when configured. */
  readonly shared?: SharedMetadata;
  close(): Promise<void>;
}

/**
 * Builds every service module in dependency order, handing each the in-process transports
 * of the services it calls: a module can only reach services built before it, so start-up
 * can never wait on a service that does not exist yet.
 */
export async function createServices(
  config: Config,
  log: Logger = pino({ level: config.log.level }),
  metrics = new MetricsRegistry(),
  extensions: ServiceExtensions = {},
): Promise<Services> {
  const modules: ServiceModule[] = [];
  const ctx: PlatformContext = { log, metrics };
  const add = (m: ServiceModule): Transport => {
    modules.push(m);
    return traceTransport(createInProcessTransport(m.services));
  };
  // Shared storage: one PostgreSQL pool and change listener for every service's store.
  let shared: SharedMetadata | undefined;
  if (config.storage === "shared" && config.postgres) {
    // Loaded only here: the embedded default never loads the PostgreSQL client.
    const { openSharedMetadata } = await import("./platform/postgres/shared-metadata.js");
    shared = await openSharedMetadata(config.postgres, log.child({ component: "postgres" }), metrics);
    const metadata = shared;
    modules.push({ services: [], close: () => metadata.close() });
  }
  try {
    const registry = add(await createRegistryModule(config, ctx, shared));
    const llm = add(await createLlmModule(config, ctx, { registry }));
    const features = add(await createFeatureModule(config, ctx, { llm, shared }));
    const feedback = add(await createFeedbackModule(config, ctx, { features, registry, shared }));
    add(await createPipelineModule(config, ctx, { llm, features, feedback, steps: extensions.pipelineSteps, shared }));
  } catch (err) {
    await closeAll(modules);
    throw err;
  }
  const bindings = () => modules.flatMap((m) => m.services);
  const httpRoutes = () => modules.flatMap((m) => m.httpRoutes ?? []);
  const dependencies = () => modules.flatMap((m) => m.dependencies ?? []);
  return { modules, ctx, bindings, httpRoutes, dependencies, internal: createInProcessTransport(bindings()), shared, close: () => closeAll(modules) };
}

async function closeAll(modules: ServiceModule[]): Promise<void> {
  // Reverse order: consumers stop before what they consume.
  for (const m of [...modules].reverse()) await m.close();
}
