// Settings of the feedback service, the `feedback:` section of the config file.
import { z } from "zod";

export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Ids chosen by clients: prediction_id (RecordPrediction) and batch_id (IngestSamples). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const MAX_BUCKETS = 1 << 24;
export const DEFAULT_BUCKETS = 1 << 18;

/** An online model declared in the config file; created (version 1 registered) at first use if missing. */
export const onlineModelConfigSchema = z
  .object({
    name: z
      .string()
      .regex(MODEL_NAME_PATTERN, "must be 1-64 chars of [a-z0-9._-], starting with a letter or digit")
      .refine((n) => !n.includes("..") && !n.endsWith("."), "must not contain '..' or end in '.'"),
    task: z.enum(["regression", "classification"]),
    optimizer: z.enum(["adagrad", "adam"]).default("adagrad"),
    /** Step size; default for AdaGrad 0.1 (regression) or 0.2 (classification), for Adam 0.01. */
    learningRate: z.number().positive().finite().optional(),
    l2: z.number().min(0).finite().default(1e-4),
    /** Hashed dimensions every feature maps into (see hashing.ts). */
    buckets: z.number().int().min(1).max(MAX_BUCKETS).default(DEFAULT_BUCKETS),
    /** Passes over each training batch. */
    epochs: z.number().int().min(1).max(100).default(1),
    /** Online standardization of features and regression targets (see linear.ts). */
    scaling: z.enum(["none", "standardize"]).default("standardize"),
    /** Feedback whose error exceeds this is a significant error (the only feedback that trains with trainingSamples "significant-errors"). */
    errorThreshold: z.number().min(0).finite().default(0.1),
    /** Buffered samples that trigger a training. */
    updateThreshold: z.number().int().min(1).max(10_000_000).default(100),
    /** Train sooner while the model is new: after max(1, trained / 2) samples until that reaches updateThreshold. */
    warmUp: z.boolean().default(true),
    /** Which feedback trains: every outcome, or only errors above errorThreshold. */
    trainingSamples: z.enum(["all-outcomes", "significant-errors"]).default("all-outcomes"),
    /** Newest learner versions kept besides the serving and aliased ones; older ones are deleted. 0 keeps all. */
    maxVersions: z.number().int().min(0).max(1_000_000).default(20),
    /** Least time between two trainings of the model by one process, in milliseconds. */
    minTrainIntervalMs: z.number().int().min(0).max(86_400_000).default(0),
    /** A FeatureService feature set that processes features first. */
    featureSet: z.string().min(1).optional(),
    description: z.string().default(""),
  })
  .strict();

export const feedbackConfigSchema = z
  .object({
    /** Online models to create at start when they do not exist yet. */
    models: z.array(onlineModelConfigSchema).default([]),
    /** How long a recorded prediction accepts feedback, in milliseconds. */
    predictionTtlMs: z.number().int().positive().default(24 * 60 * 60 * 1000),
    /** Most predictions kept in memory (embedded store; about 0.3 KB each with 20 features); the oldest go first. */
    maxPredictions: z.number().int().positive().default(200_000),
    /** Feedback per version the rolling figures are computed over. */
    performanceWindow: z.number().int().positive().max(1_000_000).default(1000),
    /** Versions per model whose figures (and Prometheus series) are kept. */
    performanceVersions: z.number().int().positive().max(1000).default(20),
    /**
     * Buffered samples per model beyond which ingestion answers RESOURCE_EXHAUSTED. The
     * embedded backend also keeps them in memory: about 0.26 KB each with 20 features.
     */
    maxBufferedSamples: z.number().int().positive().default(500_000),
    /** Most samples one training uses; the rest wait for the next. */
    maxTrainingSamples: z.number().int().positive().default(100_000),
    /** Size at which the embedded sample log starts a new segment file, in bytes. */
    segmentBytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** Expiry of the shared training lock (Redis), in milliseconds; renewed while training. */
    lockTtlMs: z.number().int().positive().default(30_000),
    /** Prefix of every Redis key and channel of the feedback service. */
    redisKeyPrefix: z.string().min(1).max(128).default("openloop:feedback:"),
    /**
     * How long each model remembers the batch ids of ingested batches (IngestSamples
     * batch_id), in milliseconds: a batch resent within it is not learned twice.
     */
    batchIdTtlMs: z.number().int().positive().default(24 * 60 * 60 * 1000),
    /** Wait before retrying a failed training, in milliseconds. */
    retryDelayMs: z.number().int().min(0).default(1000),
  })
  .strict()
  .prefault({});

export type FeedbackConfig = z.infer<typeof feedbackConfigSchema>;
export type OnlineModelConfig = z.infer<typeof onlineModelConfigSchema>;
