// Settings of the feature service, the `feature:` section of the config file.
import { z } from "zod";

const limitsSchema = z
  .object({
    /** Longest entity key, in UTF-8 bytes. */
    maxEntityKeyBytes: z.number().int().min(1).max(4096).default(256),
    /** Most features a set declares, and most features one request carries. */
    maxFeaturesPerEntity: z.number().int().min(1).default(1000),
    /** Most elements of a list value (and of a one-hot vocabulary or bucket boundaries). */
    maxListLength: z.number().int().min(1).default(10_000),
    /** Longest string value, in characters. */
    maxStringLength: z.number().int().min(1).default(65_536),
    /** Most entity keys in one BatchGetFeatures or DeleteFeatures. */
    maxBatchSize: z.number().int().min(1).default(10_000),
    /** Most feature sets on one server. */
    maxFeatureSets: z.number().int().min(1).default(1000),
  })
  .strict()
  .prefault({});

export const featureConfigSchema = z
  .object({
    /** Where values live: `memory` (embedded) or `redis`. Unset: redis when a Redis is configured (`feature.redis`, else `redis.url`), else memory. */
    store: z.enum(["memory", "redis"]).optional(),
    memory: z
      .object({
        /** Most entities held; the least recently used go first. */
        maxEntries: z.number().int().min(1).default(100_000),
        /** Most bytes of values held (an estimate of their heap size); the least recently used go first. */
        maxBytes: z.number().int().min(1).default(256 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        /** A Redis of the feature store's own; unset: the shared `redis.url`. */
        url: z.string().url().optional(),
        /** Prefix of every key; the set name follows as a cluster hash tag. */
        keyPrefix: z.string().default("openloop:feature:"),
        /** Seeds of a Redis Cluster (`host:port`, or `redis://user:password@host:port`); when set, used instead of a URL. */
        clusterNodes: z.array(z.string().min(1)).default([]),
        /** A Redis command unanswered after this long fails with UNAVAILABLE. */
        commandTimeoutMs: z.number().int().min(1).default(1000),
        connectTimeoutMs: z.number().int().min(1).default(2000),
      })
      .strict()
      .prefault({}),
    limits: limitsSchema,
    /**
     * Feature sets declared by the config, in the proto JSON form of openloop.feature.v1.FeatureSet
     * (`type` may be written short: `double`, `int64_list`...). Created at start, replaced when changed.
     */
    sets: z.array(z.record(z.string(), z.unknown())).default([]),
  })
  .strict()
  .prefault({});

export type FeatureConfig = z.infer<typeof featureConfigSchema>;
