// Typed configuration: a YAML/JSON file plus OPENLOOP_* environment overrides,
// validated once at start. Errors name the bad setting.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { llmConfigSchema, resolveLlmApiKeys } from "./llm/config.js";
import { pipelineConfigSchema } from "./pipeline/config.js";
import { registryConfigSchema } from "./registry/config.js";
import { featureConfigSchema } from "./feature/config.js";
import { feedbackConfigSchema } from "./feedback/config.js";
import { applyTelemetryEnv, telemetryConfigSchema } from "./platform/tracing/config.js";

const serverSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(50051),
    /** API keys accepted as `authorization: Bearer <key>`; none means the server runs open. */
    apiKeys: z.array(z.string().min(8, "API keys must be at least 8 characters")).default([]),
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
    redis: z.object({ url: z.string().url() }).strict().optional(),
    llm: llmConfigSchema,
    pipeline: pipelineConfigSchema,
    registry: registryConfigSchema,
    feature: featureConfigSchema,
    feedback: feedbackConfigSchema,
    /** OpenTelemetry tracing (README "Tracing"). */
    telemetry: telemetryConfigSchema,
  })
  .strict();

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
  if (env.OPENLOOP_API_KEYS !== undefined) {
    server.apiKeys = env.OPENLOOP_API_KEYS.split(",").map((k) => k.trim()).filter(Boolean);
  }
  if (env.OPENLOOP_ALLOW_OPEN) server.allowOpen = env.OPENLOOP_ALLOW_OPEN === "true" || env.OPENLOOP_ALLOW_OPEN === "1";
  if (env.OPENLOOP_CORS_ORIGINS) server.corsOrigins = env.OPENLOOP_CORS_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean);
  if (env.OPENLOOP_LOG_LEVEL) out.log = { ...((out.log as object) ?? {}), level: env.OPENLOOP_LOG_LEVEL };
  out.server = server;
  if (env.OPENLOOP_DATA_DIR) out.dataDir = env.OPENLOOP_DATA_DIR;
  if (env.OPENLOOP_REDIS_URL) out.redis = { url: env.OPENLOOP_REDIS_URL };
  resolveLlmApiKeys(out, env);
  applyTelemetryEnv(out, env);
  return out;
}
