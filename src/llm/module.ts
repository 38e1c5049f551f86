// Builds the llm service from its config and dependencies.
import type { Transport } from "@connectrpc/connect";
import type { Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { bind } from "../platform/rpc/binding.js";
import { traceStore } from "../platform/tracing/index.js";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { ResponseCache } from "./cache/cache.js";
import { MemoryResponseCache } from "./cache/memory.js";
import { RedisResponseCache } from "./cache/redis.js";
import { Catalog } from "./catalog.js";
import { effectiveCatalog } from "./config.js";
import { Gateway } from "./gateway.js";
import { RedisLimits } from "./redis-limiter.js";
import { ProviderRateGate } from "./provider-rates.js";
import { MemoryRateLimiter, type RateLimiter } from "../platform/rate-limit.js";
import { RedisRateLimiter } from "../platform/redis-rate-limit.js";
import { LlmMetrics } from "./metrics.js";
import { createProvider } from "./providers/factory.js";
import { lazyProvider } from "./providers/lazy.js";
import type { Provider } from "./providers/provider.js";
import { RegistryModelLoader } from "./registry-models.js";
import { createLlmService } from "./service.js";
import { openaiRoute } from "../openai/handler.js";

/** The services the LLM gateway calls: RegistryService, for models stored in the registry. */
export interface LlmDependencies {
  readonly registry: Transport;
}

export async function createLlmModule(config: Config, ctx: PlatformContext, deps: LlmDependencies): Promise<ServiceModule> {
  const llm = config.llm;
  const { providers: providerConfigs, models } = effectiveCatalog(llm);
  const log = ctx.log.child({ service: "llm" });

  // In-process models load on their first request, so an unused one costs nothing at start.
  const local = (name: string, modelPath: string) =>
    lazyProvider(name, async () => new (await import("./providers/local-llama.js")).LlamaCppProvider({ name, modelPath, log, metrics: ctx.metrics }), { canList: false, canEmbed: true });
  const providers = new Map<string, Provider>();
  const limits = new Map<string, { maxConcurrency: number; maxQueue: number }>();
  for (const [name, cfg] of Object.entries(providerConfigs)) {
    providers.set(name, createProvider(name, cfg, local));
    limits.set(name, { maxConcurrency: cfg.maxConcurrency, maxQueue: cfg.maxQueue });
  }
  const catalog = new Catalog(models, new Set(providers.keys()));

  let cache: ResponseCache | undefined;
  let redisCache: RedisResponseCache | undefined;
  if (llm.cache.enabled) {
    if (llm.cache.backend === "redis") {
      if (!config.redis?.url) throw new Error("llm.cache.backend is redis but redis.url is not set");
      cache = redisCache = await RedisResponseCache.open(config.redis.url, llm.cache.ttlMs, log, config.redis);
    } else {
      cache = new MemoryResponseCache({ maxEntries: llm.cache.maxEntries, ttlMs: llm.cache.ttlMs });
    }
    cache = traceStore(cache, "llm.cache", { "db.system.name": llm.cache.backend });
  }

  // Limits hold across replicas through Redis when they share one (llm.limits.scope).
  let sharedLimits: RedisLimits | undefined;
  const scope = llm.limits.scope === "auto" ? (config.redis?.url ? "global" : "replica") : llm.limits.scope;
  if (scope === "global") {
    if (!config.redis?.url) throw new Error("llm.limits.scope is global but redis.url is not set");
    sharedLimits = await RedisLimits.open({ url: config.redis.url, policy: config.redis, leaseTtlMs: llm.limits.leaseTtlMs, keyPrefix: llm.limits.redisKeyPrefix, log });
  }
  // Requests and tokens per minute, in the same scope; nothing is opened when no provider has them.
  const rated = Object.entries(providerConfigs).filter(([, cfg]) => cfg.requestsPerMinute !== undefined || cfg.tokensPerMinute !== undefined);
  let sharedRates: RedisRateLimiter | undefined;
  let rateLimiter: RateLimiter = new MemoryRateLimiter();
  if (rated.length > 0 && scope === "global") {
    rateLimiter = sharedRates = await RedisRateLimiter.open({ url: config.redis!.url, policy: config.redis!, keyPrefix: llm.limits.redisKeyPrefix, leaseTtlMs: llm.limits.leaseTtlMs, log, name: "llm rate limits" });
  }
  const rates = new Map(rated.map(([name, cfg]) => [name, new ProviderRateGate(rateLimiter, name, cfg)]));

  const registry = new RegistryModelLoader({ transport: deps.registry, dataDir: config.dataDir, log, metrics: ctx.metrics });
  const gateway = new Gateway({
    catalog,
    providers,
    limits,
    limiter: sharedLimits?.factory,
    rates,
    retry: llm.retry,
    cache,
    cacheConfig: llm.cache,
    metrics: new LlmMetrics(ctx.metrics),
    log,
    listModelsTtlMs: llm.listModelsTtlMs,
    tokens: { defaultMaxTokens: llm.defaultMaxTokens, maxTokensLimit: llm.maxTokensLimit },
    registry,
  });
  log.info({ models: catalog.ids(), providers: [...providers.keys()], cache: llm.cache.enabled ? llm.cache.backend : "off", limits: scope }, "llm gateway ready");

  const redisProbe = sharedLimits?.probe ?? redisCache?.probe;
  return {
    services: [bind(LLMService, createLlmService(gateway))],
    httpRoutes: [openaiRoute(gateway)],
    // Reported as "<LLMService>/redis" only: without Redis, calls are still served (no shared cache, limits per replica).
    dependencies: redisProbe ? [{ service: LLMService.typeName, probe: redisProbe, component: "redis", reportOnly: true }] : [],
    async close() {
      await registry.close();
      await cache?.close();
      await sharedLimits?.close();
      await sharedRates?.close();
      for (const p of providers.values()) await p.close?.();
    },
  };
}
