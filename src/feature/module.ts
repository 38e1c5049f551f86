// Builds the feature service from its config and dependencies.
import path from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { Histogram } from "prom-client";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { Config } from "../config.js";
import { BatchGetFeaturesRequestSchema, FeatureService, FeatureSetSchema, GetFeaturesRequestSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { bind } from "../platform/rpc/binding.js";
import { traceStore } from "../platform/tracing/index.js";
import { MemoryFeatureStore } from "./memory-store.js";
import { definitionFromProto } from "./proto.js";
import { RedisFeatureStore } from "./redis-store.js";
import { createFeatureService } from "./service.js";
import { stringRequestDecoder } from "./string-request-decode.js";
import { PgFeatureSetStore } from "./pg-set-store.js";
import { FeatureSetRegistry } from "./set-registry.js";
import { FsFeatureSetStore } from "./set-store.js";
import type { SharedMetadata } from "../platform/postgres/shared-metadata.js";
import type { FeatureStore } from "./store.js";

/** What feature sets depend on: LLMService (embed transformers) and, with storage: shared, PostgreSQL for definitions. */
export interface FeatureDependencies {
  readonly llm?: Transport;
  readonly shared?: SharedMetadata;
}

export async function createFeatureModule(config: Config, ctx: PlatformContext, deps: FeatureDependencies = {}): Promise<ServiceModule> {
  const shared = deps.shared;
  const settings = config.feature;
  const log = ctx.log.child({ service: "feature" });
  const setStore = shared ? new PgFeatureSetStore(shared.db, shared.changes) : new FsFeatureSetStore(path.join(config.dataDir, "feature-sets"));
  const registry = new FeatureSetRegistry(setStore, settings.limits, settings.limits.maxFeatureSets, log);
  await registry.load(shared?.cacheTtlMs);
  for (const [i, raw] of settings.sets.entries()) {
    const where = `feature.sets[${i}]${typeof raw.name === "string" ? ` ('${raw.name}')` : ""}`;
    try {
      await registry.declare(definitionFromProto(fromJson(FeatureSetSchema, withLongTypeNames(raw) as JsonValue)));
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }

  const created = createStore(config, log);
  const store = traceStore(created, "feature.store", { "db.system.name": created instanceof RedisFeatureStore ? "redis" : "memory" });
  const storeSeconds = new Histogram({
    name: "openloop_feature_store_seconds",
    help: "Latency of feature store operations",
    labelNames: ["op", "backend"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    registers: [ctx.metrics],
  });
  const backend = store instanceof RedisFeatureStore ? "redis" : "memory";
  const storeTimers = new Map<string, Histogram.Internal<"op" | "backend">>();
  if (store instanceof RedisFeatureStore && !(await store.waitReady(settings.redis.connectTimeoutMs))) {
    log.warn("feature store: redis not reachable yet; calls answer UNAVAILABLE until it is");
  }
  log.info({ store: backend, sets: registry.list().length }, "feature service ready");

  const llm = deps.llm ? createClient(LLMService, deps.llm) : undefined;
  const impl = createFeatureService({
    registry,
    store,
    limits: settings.limits,
    log,
    embed: llm
      ? async (model, inputs, dimensions, call) =>
          (await llm.embed({ model, inputs, dimensions }, { signal: call.signal, timeoutMs: call.timeoutMs() })).embeddings.map((e) => e.values)
      : undefined,
    storeTimer: (op) => {
      // Label children are cached: resolving labels on every call hashes them each time.
      let child = storeTimers.get(op);
      if (child === undefined) storeTimers.set(op, (child = storeSeconds.labels(op, backend)));
      return child.startTimer();
    },
  });
  return {
    // Responses are never compressed: they are mostly doubles, which gzip barely shrinks,
    // and compressing a 100-entity batch cost more CPU than the rest of the call.
    services: [
      bind(FeatureService, impl, {
        compressResponses: false,
        decoders: { getFeatures: stringRequestDecoder(GetFeaturesRequestSchema), batchGetFeatures: stringRequestDecoder(BatchGetFeaturesRequestSchema) },
      }),
    ],
    dependencies: store instanceof RedisFeatureStore ? [{ service: FeatureService.typeName, probe: store.probe, component: "redis" }] : [],
    async close() {
      registry.close();
      await store.close();
    },
  };
}

function createStore(config: Config, log: PlatformContext["log"]): FeatureStore {
  const settings = config.feature;
  const url = settings.redis.url ?? config.redis?.url;
  const kind = settings.store ?? (url || settings.redis.clusterNodes.length > 0 ? "redis" : "memory");
  if (kind === "memory") return new MemoryFeatureStore(settings.memory);
  if (!url && settings.redis.clusterNodes.length === 0) {
    throw new Error("feature.store is redis, but none of feature.redis.url, redis.url, feature.redis.clusterNodes is set");
  }
  return new RedisFeatureStore({
    url,
    clusterNodes: settings.redis.clusterNodes,
    keyPrefix: settings.redis.keyPrefix,
    commandTimeoutMs: settings.redis.commandTimeoutMs,
    connectTimeoutMs: settings.redis.connectTimeoutMs,
    log,
  });
}

// Lets the config file say `type: double_list` instead of `type: FEATURE_TYPE_DOUBLE_LIST`.
function withLongTypeNames(raw: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(raw.features)) return raw;
  return {
    ...raw,
    features: raw.features.map((f: unknown) => {
      if (f === null || typeof f !== "object") return f;
      const type = (f as { type?: unknown }).type;
      if (typeof type !== "string" || type.startsWith("FEATURE_TYPE_")) return f;
      return { ...f, type: `FEATURE_TYPE_${type.toUpperCase()}` };
    }),
  };
}
