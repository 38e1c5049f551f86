// Settings of the pipeline service, the `pipeline:` section of the config file.
import { z } from "zod";
import { parseCidr } from "./hook-network.js";

export const pipelineConfigSchema = z
  .object({
    /**
     * Pipelines defined in the config file, each `{ name, description, spec }` with `spec` in the
     * proto JSON form of openloop.pipeline.v1.PipelineSpec (the same shape CreatePipeline takes).
     * At start, a pipeline whose spec differs from its latest stored revision gets a new revision.
     */
    pipelines: z
      .array(
        z
          .object({
            name: z.string().min(1),
            description: z.string().default(""),
            spec: z.record(z.string(), z.unknown()),
          })
          .strict(),
      )
      .default([]),
    /** Pipelines this server holds; creating one more is RESOURCE_EXHAUSTED. */
    maxPipelines: z.number().int().min(1).max(1_000_000).default(1000),
    /** Revisions kept per pipeline; the oldest are deleted beyond this. */
    maxRevisions: z.number().int().min(1).max(10_000).default(100),
    runs: z
      .object({
        /** Most runs kept for GetRun (least recently used dropped first). */
        maxCount: z.number().int().min(1).max(1_000_000).default(10_000),
        /** How long a run is kept after it ends, in milliseconds. */
        ttlMs: z.number().int().min(1000).default(60 * 60 * 1000),
      })
      .strict()
      .prefault({}),
    hooks: z
      .object({
        /** Deliveries waiting (including those waiting to retry); new ones are dropped beyond this. */
        queueSize: z.number().int().min(1).max(1_000_000).default(10_000),
        /** Deliveries in flight at once. */
        concurrency: z.number().int().min(1).max(256).default(8),
        /** Time allowed for one POST, in milliseconds. */
        timeoutMs: z.number().int().min(1).default(5_000),
        /** Wait before the first retry; doubled for each later one, in milliseconds. */
        initialBackoffMs: z.number().int().min(1).default(500),
        /** Longest wait between retries, in milliseconds. */
        maxBackoffMs: z.number().int().min(1).default(30_000),
        /**
         * Hooks may not connect to loopback, link-local (cloud metadata), private, shared or
         * unique-local addresses, checked after DNS resolution. These open them deliberately:
         * host names as written in hook URLs, and CIDR ranges (env OPENLOOP_HOOKS_ALLOW_HOSTS,
         * OPENLOOP_HOOKS_ALLOW_CIDRS, comma-separated).
         */
        allowHosts: z.array(z.string().min(1)).default([]),
        allowCidrs: z
          .array(
            z.string().superRefine((cidr, ctx) => {
              try {
                parseCidr(cidr);
              } catch (err) {
                ctx.addIssue({ code: "custom", message: (err as Error).message });
              }
            }),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  // prefault, not default: zod 4 returns a default as it is, without filling in the inner defaults.
  .prefault({});

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
