// Typed configuration: a YAML/JSON file plus OPENLOOP_* environment overrides,
// validated once at start. Errors name the bad setting.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { llmConfigSchema, applyLlmLimitsEnv, resolveLlmApiKeys } from "./llm/config.js";
import { pipelineConfigSchema } from "./pipeline/config.js";
import { registryConfigSchema } from "./registry/config.js";
import { featureConfigSchema } from "./feature/config.js";
import { feedbackConfigSchema } from "./feedback/config.js";
import { applyStorageEnv, checkSharedStorage, objectStoreConfigSchema, postgresConfigSchema, storageModeSchema } from "./platform/shared-storage.js";
import { apiKeysFromEnv, apiKeysSchema, applyMetricsEnv, metricsConfigSchema } from "./platform/auth-config.js";
import { applyTelemetryEnv, telemetryConfigSchema } from "./platform/tracing/config.js";

const serverSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(50051),
    /** API keys accepted as `authorization: Bearer <key>`, plain or named with scopes and limits; none means the server runs open. */
    apiKeys: apiKeysSchema,
    /** Allow running without API keys on a non-loopback address. */
    allowOpen: z.boolean().default(false),
    /** Web origins allowed by CORS (exact origins, or "*"). */
    corsOrigins: z.array(z.string()).default([]),
    tls: z
      .object({ certFile: z.string(), keyFile: z.string() })
      .strict()
      .optional(),
    /** Largest request or response message, in bytes. */
    maxMessageBytes: z.number().int().positive().default(16 * 1024 * 1024),
    /** Deadline applied to calls that arrive without one, in milliseconds (0: none). */
    defaultDeadlineMs: z.number().int().min(0).default(0),
    /** How long graceful shutdown waits for in-flight calls, in milliseconds. */
    shutdownGraceMs: z.number().int().min(0).default(10_000),
    /** Directory of the web console's static files, relative to the working directory; served only if it exists. */
    consoleDir: z.string().min(1).default("console/dist"),
    /**
     * What serves gRPC connections: "openloop", the server's own HTTP/2 transport (a unary
     * call's response leaves in one socket write), or "@grpc/grpc-js" on node:http2.
     */
    grpcServer: z.enum(["openloop", "@grpc/grpc-js"]).default("openloop"),
    /** HTTP/2 keepalive of gRPC connections. */
    keepalive: z
      .object({
        /** How often the server pings an idle gRPC connection, in milliseconds (0: never). */
        timeMs: z.number().int().min(0).default(2 * 60 * 60 * 1000),
        /** How long a ping may go unanswered before the connection is closed, in milliseconds. */
        timeoutMs: z.number().int().positive().default(20_000),
        /** The shortest interval at which a client may ping without calls in flight, in milliseconds. */
        minClientPingIntervalMs: z.number().int().min(0).default(5 * 60 * 1000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    server: serverSchema,
    /** Root for embedded state (registry, feature store, learner logs). */
    dataDir: z.string().min(1).default("data"),
    log: z
      .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
    /** Shared Redis (feature store, cache, learner buffers, locks); embedded stores when unset. */
    redis: z
      .object({
        url: z.string().url(),
        /** The one Redis client policy (src/platform/redis.ts): a command unanswered this long fails UNAVAILABLE. */
        commandTimeoutMs: z.number().int().min(1).default(1000),
        connectTimeoutMs: z.number().int().min(1).default(2000),
      })
      .strict()
      .optional(),
    /** Where durable state lives: "embedded" (dataDir) or "shared" (postgres + objectStore + redis, for several replicas). */
    storage: storageModeSchema,
    /** PostgreSQL for shared metadata (storage: shared). */
    postgres: postgresConfigSchema.optional(),
    /** S3-compatible object storage for shared artifacts (storage: shared). */
    objectStore: objectStoreConfigSchema.optional(),
    llm: llmConfigSchema,
    pipeline: pipelineConfigSchema,
    registry: registryConfigSchema,
    feature: featureConfigSchema,
    feedback: feedbackConfigSchema,
    /** Where /metrics is served, and whether it needs a key. */
    metrics: metricsConfigSchema,
    /** OpenTelemetry tracing (README "Tracing"). */
    telemetry: telemetryConfigSchema,
  })
  .strict()
  .superRefine((c, ctx) => checkSharedStorage(c, (path, message) => ctx.addIssue({ code: "custom", path: path.split("."), message })));

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {}

/** Reads the config file (if any) and the environment, and validates the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const file = env.OPENLOOP_CONFIG ?? (existsSync(path.join(cwd, "openloop.yaml")) ? "openloop.yaml" : undefined);
  let raw: Record<string, unknown> = {};
  if (file) {
    const text = readFileSync(path.resolve(cwd, file), "utf8");
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
  }
  return parseConfig(applyEnv(raw, env));
}

/** Validates a config object (from a file, a test, or an embedding program). */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return result.data;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(raw);
  const server = { ...((out.server as Record<string, unknown>) ?? {}) };
  if (env.OPENLOOP_HOST) server.host = env.OPENLOOP_HOST;
  if (env.OPENLOOP_PORT !== undefined && env.OPENLOOP_PORT !== "") {
    const port = Number(env.OPENLOOP_PORT);
    if (!Number.isInteger(port)) throw new ConfigError(`OPENLOOP_PORT must be an integer 0-65535, got '${env.OPENLOOP_PORT}'`);
    server.port = port;
  }
  if (env.OPENLOOP_API_KEYS !== undefined) server.apiKeys = apiKeysFromEnv(env.OPENLOOP_API_KEYS, (m) => new ConfigError(m));
  if (env.OPENLOOP_ALLOW_OPEN) server.allowOpen = env.OPENLOOP_ALLOW_OPEN === "true" || env.OPENLOOP_ALLOW_OPEN === "1";
  if (env.OPENLOOP_CORS_ORIGINS) server.corsOrigins = env.OPENLOOP_CORS_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean);
  if (env.OPENLOOP_LOG_LEVEL) out.log = { ...((out.log as object) ?? {}), level: env.OPENLOOP_LOG_LEVEL };
  out.server = server;
  if (env.OPENLOOP_DATA_DIR) out.dataDir = env.OPENLOOP_DATA_DIR;
  if (env.OPENLOOP_REDIS_URL) out.redis = { ...((out.redis as object) ?? {}), url: env.OPENLOOP_REDIS_URL };
  for (const [name, key] of [["OPENLOOP_REDIS_COMMAND_TIMEOUT_MS", "commandTimeoutMs"], ["OPENLOOP_REDIS_CONNECT_TIMEOUT_MS", "connectTimeoutMs"]] as const) {
    // Settings of a Redis only: without redis.url there is none to tune.
    if (env[name] !== undefined && out.redis) out.redis = { ...(out.redis as object), [key]: Number(env[name]) };
  }
  applyStorageEnv(out, env);
  applyMetricsEnv(out, env);
  resolveLlmApiKeys(out, env);
  applyHookEnv(out, env);
  applyLlmTokenEnv(out, env);
  applyLlmLimitsEnv(out, env);
  applyTelemetryEnv(out, env);
  return out;
}

/** OPENLOOP_HOOKS_ALLOW_HOSTS / OPENLOOP_HOOKS_ALLOW_CIDRS (comma-separated) set pipeline.hooks.allowHosts / allowCidrs. */
function applyHookEnv(out: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const list = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);
  if (env.OPENLOOP_HOOKS_ALLOW_HOSTS === undefined && env.OPENLOOP_HOOKS_ALLOW_CIDRS === undefined) return;
  const pipeline = { ...((out.pipeline as Record<string, unknown>) ?? {}) };
  const hooks = { ...((pipeline.hooks as Record<string, unknown>) ?? {}) };
  if (env.OPENLOOP_HOOKS_ALLOW_HOSTS !== undefined) hooks.allowHosts = list(env.OPENLOOP_HOOKS_ALLOW_HOSTS);
  if (env.OPENLOOP_HOOKS_ALLOW_CIDRS !== undefined) hooks.allowCidrs = list(env.OPENLOOP_HOOKS_ALLOW_CIDRS);
  out.pipeline = { ...pipeline, hooks };
}

/** OPENLOOP_LLM_DEFAULT_MAX_TOKENS / OPENLOOP_LLM_MAX_TOKENS_LIMIT set llm.defaultMaxTokens / maxTokensLimit. */
function applyLlmTokenEnv(out: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const settings: [string, "defaultMaxTokens" | "maxTokensLimit"][] = [
    ["OPENLOOP_LLM_DEFAULT_MAX_TOKENS", "defaultMaxTokens"],
    ["OPENLOOP_LLM_MAX_TOKENS_LIMIT", "maxTokensLimit"],
  ];
  for (const [name, key] of settings) {
    const text = env[name];
    if (text === undefined || text === "") continue;
    const value = Number(text);
    if (!Number.isInteger(value)) throw new ConfigError(`${name} must be an integer, got '${text}'`);
    out.llm = { ...((out.llm as Record<string, unknown>) ?? {}), [key]: value };
  }
}
