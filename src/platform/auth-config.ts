// Settings of API keys (`server.apiKeys`) and of /metrics exposure (`metrics:`), with
// their environment overrides; src/config.ts composes them into the config.
import { z } from "zod";
import { isScope, SCOPES } from "./scopes.js";

/** `sha256:` and 64 hex digits: the SHA-256 of the key's UTF-8 bytes, so the config never holds the key. */
export const HASHED_KEY = /^sha256:[0-9a-fA-F]{64}$/;

const keyValue = z
  .string()
  .min(8, "API keys must be at least 8 characters")
  .refine((k) => !k.startsWith("sha256:") || HASHED_KEY.test(k), "a hashed key is 'sha256:' and 64 hex digits");

const namedKeySchema = z
  .object({
    /** Shown in metrics and logs instead of the key. */
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "key names are 1-64 characters of [A-Za-z0-9_.-]"),
    /** The key, or `sha256:<hex>` of it. */
    key: keyValue,
    /** What the key may call (see src/platform/scopes.ts); `admin` is everything. */
    // A refinement rather than z.enum: zod then names the bad scope instead of "Invalid input" for the whole key.
    scopes: z
      .array(z.string().refine(isScope, { error: (issue) => `unknown scope '${String(issue.input)}'; scopes are ${SCOPES.join(", ")}` }))
      .min(1, "give the key at least one scope")
      .transform((list) => list.filter(isScope)),
    limits: z
      .object({
        /** Sustained requests per second (a token bucket). */
        requestsPerSecond: z.number().positive().optional(),
        /** Requests allowed at once above the sustained rate; default: one second's worth (at least 1). */
        burst: z.number().int().min(1).optional(),
        /** Streaming calls open at the same time. */
        concurrentStreams: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A plain key (named `key-<n>` by position, scope `admin`), or a named key with scopes and limits. */
export const apiKeySchema = z.union([keyValue, namedKeySchema]);
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;

/** The name of a plain key: its position in the list, counted from 1. */
export const plainKeyName = (index: number): string => `key-${index + 1}`;

export const apiKeysSchema = z
  .array(apiKeySchema)
  .default([])
  .superRefine((keys, ctx) => {
    const seen = new Set(keys.map((k, i) => (typeof k === "string" ? plainKeyName(i) : "")));
    keys.forEach((k, i) => {
      if (typeof k === "string") return;
      if (seen.has(k.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `key name '${k.name}' is used twice (plain keys are named key-<position>)` });
      seen.add(k.name);
    });
  });

export const metricsConfigSchema = z
  .object({
    /** Serve /metrics on this `host:port` only (plain HTTP, no key), instead of on the main port. */
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, "must be host:port, e.g. 127.0.0.1:9464")
      .optional(),
    /** On the main port, serve /metrics without a key even when keys are configured. */
    public: z.boolean().default(false),
  })
  .strict()
  .prefault({});

export type MetricsConfig = z.infer<typeof metricsConfigSchema>;

/** OPENLOOP_API_KEYS: comma-separated plain keys, or a JSON array in the config file's form. */
export function apiKeysFromEnv(value: string, fail: (message: string) => Error): unknown {
  const text = value.trim();
  if (!text.startsWith("[")) return text.split(",").map((k) => k.trim()).filter(Boolean);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw fail(`OPENLOOP_API_KEYS looks like JSON but does not parse: ${(err as Error).message}`);
  }
}

/** OPENLOOP_METRICS_LISTEN and OPENLOOP_METRICS_PUBLIC over the `metrics:` section of a raw config. */
export function applyMetricsEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const metrics = { ...((raw.metrics as Record<string, unknown> | undefined) ?? {}) };
  if (env.OPENLOOP_METRICS_LISTEN) metrics.listen = env.OPENLOOP_METRICS_LISTEN;
  if (env.OPENLOOP_METRICS_PUBLIC) metrics.public = env.OPENLOOP_METRICS_PUBLIC === "true" || env.OPENLOOP_METRICS_PUBLIC === "1";
  if (Object.keys(metrics).length > 0) raw.metrics = metrics;
}
