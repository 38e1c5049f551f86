// Settings of the llm service, the `llm:` section of the config file.
import { z } from "zod";

/** The model served when the config file says nothing about LLMs. */
export const EMBEDDED_MODEL_ID = "smollm2-135m-instruct";
export const EMBEDDED_MODEL_PATH = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
export const EMBEDDED_PROVIDER = "local";

export const providerKinds = ["openai", "anthropic", "cohere", "huggingface", "openai-compatible", "llama-cpp"] as const;
export type ProviderKind = (typeof providerKinds)[number];

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "must be 1-64 chars of [a-z0-9._-], starting with a letter or digit");

const providerSchema = z
  .object({
    kind: z.enum(providerKinds),
    /** The API key itself. Prefer apiKeyEnv so the key stays out of the file. */
    apiKey: z.string().min(1).optional(),
    /** Name of the environment variable holding the API key (resolved once at start by src/config.ts). */
    apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name").optional(),
    /** Upstream base URL; each kind has the public endpoint as default, openai-compatible has none. */
    baseUrl: z.string().url().optional(),
    /** GGUF file for kind llama-cpp. */
    modelPath: z.string().min(1).optional(),
    /** Upstream calls in progress at once; more wait in the queue. */
    maxConcurrency: z.number().int().positive().default(64),
    /** Calls waiting for a slot; one more is answered RESOURCE_EXHAUSTED. */
    maxQueue: z.number().int().min(0).default(256),
    /** Limit for one upstream attempt, in milliseconds (the call's deadline also applies). */
    timeoutMs: z.number().int().positive().default(120_000),
    /**
     * Upstream requests a minute (LiteLLM's rpm), retries included; global across replicas like
     * maxConcurrency (llm.limits.scope). Over it the model's fallbacks are tried, else RESOURCE_EXHAUSTED.
     */
    requestsPerMinute: z.number().int().positive().optional(),
    /** Tokens a minute (LiteLLM's tpm): a call reserves its estimated prompt plus max_tokens, corrected by the usage reported. */
    tokensPerMinute: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.kind === "openai-compatible" && !p.baseUrl) {
      ctx.addIssue({ code: "custom", message: "openai-compatible providers need a baseUrl (e.g. http://127.0.0.1:11434/v1)" });
    }
    if (p.kind === "llama-cpp" && !p.modelPath) {
      ctx.addIssue({ code: "custom", message: "llama-cpp providers need a modelPath (a .gguf file)" });
    }
  });

const modelSchema = z
  .object({
    /** The public id callers use. */
    id: z.string().min(1).max(200),
    /** Key of `providers`. */
    provider: name,
    /** The id the upstream knows; defaults to `id`. */
    upstreamModel: z.string().min(1).optional(),
    /** Other public ids for the same model. */
    aliases: z.array(z.string().min(1).max(200)).default([]),
    /** Public ids tried in order when this model fails before streaming a token. */
    fallbacks: z.array(z.string().min(1).max(200)).default([]),
  })
  .strict();

const retrySchema = z
  .object({
    /** Attempts per model, the first included. */
    maxAttempts: z.number().int().min(1).max(10).default(3),
    initialBackoffMs: z.number().int().min(0).default(100),
    maxBackoffMs: z.number().int().min(0).default(5_000),
    multiplier: z.number().min(1).default(2),
    /** Fraction of each backoff drawn at random (0: none, 1: full jitter). */
    jitter: z.number().min(0).max(1).default(0.5),
    /** Largest Retry-After honoured; a longer one ends the retries for that model. */
    maxRetryAfterMs: z.number().int().min(0).default(30_000),
  })
  .strict();

const cacheSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** memory: per-process LRU; redis: shared by replicas (needs redis.url). */
    backend: z.enum(["memory", "redis"]).default("memory"),
    /** Entries kept by the memory backend. */
    maxEntries: z.number().int().positive().default(10_000),
    ttlMs: z.number().int().positive().default(3_600_000),
    /** Largest response cached, in characters. */
    maxEntryChars: z.number().int().positive().default(1_000_000),
  })
  .strict();

const limitsSchema = z
  .object({
    /**
     * Where providers' maxConcurrency/maxQueue and requestsPerMinute/tokensPerMinute hold:
     * "global" across every replica sharing redis.url, "replica" per process, "auto" global
     * whenever redis.url is set.
     */
    scope: z.enum(["auto", "global", "replica"]).default("auto"),
    /** A slot held by a replica that died is free again after this long, in milliseconds. */
    leaseTtlMs: z.number().int().min(500).default(10_000),
    /** Prefix of the Redis keys: replicas with the same prefix share their providers' limits. */
    redisKeyPrefix: z.string().min(1).default("openloop:llm:limit:v1:"),
  })
  .strict();

export const llmConfigSchema = z
  .object({
    /** Upstream providers by name. Absent together with `models`: the embedded local model. */
    providers: z.record(name, providerSchema).optional(),
    /** The model catalog. */
    models: z.array(modelSchema).optional(),
    retry: retrySchema.prefault({}),
    cache: cacheSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    /** How long a provider's model listing is reused by ListModels, in milliseconds. */
    listModelsTtlMs: z.number().int().min(0).default(60_000),
    /** Tokens generated when a request sets no max_tokens (env OPENLOOP_LLM_DEFAULT_MAX_TOKENS). */
    defaultMaxTokens: z.number().int().min(1).max(1_000_000).default(1024),
    /** The most max_tokens a request may ask; more is INVALID_ARGUMENT (env OPENLOOP_LLM_MAX_TOKENS_LIMIT). */
    maxTokensLimit: z.number().int().min(1).max(1_000_000).default(16_384),
  })
  .strict()
  .refine((c) => c.defaultMaxTokens <= c.maxTokensLimit, { message: "llm.defaultMaxTokens must not exceed llm.maxTokensLimit", path: ["defaultMaxTokens"] })
  .prefault({});

export type LlmConfig = z.infer<typeof llmConfigSchema>;
export type LlmProviderConfig = z.infer<typeof providerSchema>;
export type LlmModelConfig = z.infer<typeof modelSchema>;
export type RetryConfig = z.infer<typeof retrySchema>;
export type CacheConfig = z.infer<typeof cacheSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;

/** OPENLOOP_LLM_LIMIT_SCOPE over llm.limits.scope in a raw (unvalidated) config object. */
export function applyLlmLimitsEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (!env.OPENLOOP_LLM_LIMIT_SCOPE) return;
  const llm = raw.llm && typeof raw.llm === "object" ? (raw.llm as Record<string, unknown>) : {};
  const limits = llm.limits && typeof llm.limits === "object" ? (llm.limits as Record<string, unknown>) : {};
  raw.llm = { ...llm, limits: { ...limits, scope: env.OPENLOOP_LLM_LIMIT_SCOPE } };
}

/** The providers and catalog in force: the configured ones, or the embedded default when none are. */
export function effectiveCatalog(config: LlmConfig): { providers: Record<string, LlmProviderConfig>; models: LlmModelConfig[] } {
  if (config.providers === undefined && config.models === undefined) {
    return {
      providers: {
        [EMBEDDED_PROVIDER]: {
          kind: "llama-cpp",
          modelPath: EMBEDDED_MODEL_PATH,
          maxConcurrency: 8,
          maxQueue: 256,
          timeoutMs: 120_000,
        },
      },
      models: [{ id: EMBEDDED_MODEL_ID, provider: EMBEDDED_PROVIDER, aliases: [], fallbacks: [] }],
    };
  }
  return { providers: config.providers ?? {}, models: config.models ?? [] };
}

/**
 * Replaces `apiKeyEnv` by the key from `env` in a raw (unvalidated) config object.
 * Called by src/config.ts, the one place that reads the environment; a named variable
 * that is unset is left for the provider to report as missing credentials.
 */
export function resolveLlmApiKeys(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const llm = raw.llm as { providers?: Record<string, Record<string, unknown>> } | undefined;
  if (!llm || typeof llm !== "object" || !llm.providers || typeof llm.providers !== "object") return;
  for (const provider of Object.values(llm.providers)) {
    if (!provider || typeof provider !== "object") continue;
    const varName = provider.apiKeyEnv;
    if (typeof varName === "string" && provider.apiKey === undefined) {
      const value = env[varName];
      if (value) provider.apiKey = value;
    }
  }
}
