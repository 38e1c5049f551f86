// Builds the feedback service from its config and dependencies: embedded stores under
// <dataDir>/feedback/, or Redis when config.redis.url is set.
import path from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import type { Redis } from "ioredis";
import { Counter, Gauge } from "prom-client";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService, IngestSampleBatchRequestSchema, IngestSamplesRequestSchema } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import type { Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { createRedisClient, createRedisSubscriber, RedisProbe, redisReady } from "../platform/redis.js";
import { bind } from "../platform/rpc/binding.js";
import { traceStore } from "../platform/tracing/index.js";
import type { OnlineModelConfig } from "./config.js";
import { FsDefinitionStore, RedisDefinitionStore, type DefinitionStore, type ModelDefinition } from "./definitions.js";
import { FeedbackEngine, type FeatureProcessor, type NewModel } from "./engine.js";
import { FsSampleBuffer } from "./fs-buffer.js";
import { PgDefinitionStore } from "./pg-definitions.js";
import type { SharedMetadata } from "../platform/postgres/shared-metadata.js";
import type { FeatureMap } from "./hashing.js";
import type { TrainingRun } from "./learner.js";
import { PerformanceTracker } from "./performance.js";
import { MemoryPredictionStore } from "./memory-predictions.js";
import { RedisPredictionStore, type PredictionStore } from "./predictions.js";
import { RedisSampleBuffer, RedisTrainingLock } from "./redis-buffer.js";
import { decodeSamplesRequest } from "./sample-decode.js";
import { createFeedbackService } from "./service.js";
import { RegistryVersionStore } from "./versions.js";
import { quote } from "../platform/errors.js";

const REFRESH_MS = 5000;

/** The services the learner calls: FeatureService (feature processing) and RegistryService (versions). */
export interface FeedbackDependencies {
  readonly features: Transport;
  readonly registry: Transport;
  /** Shared storage (storage: shared): online-model definitions live in PostgreSQL. */
  readonly shared?: SharedMetadata;
}

export async function createFeedbackModule(config: Config, ctx: PlatformContext, deps: FeedbackDependencies): Promise<ServiceModule> {
  const fc = config.feedback;
  const switchChannel = `${fc.redisKeyPrefix}switch`;
  const log = ctx.log.child({ service: "feedback" });
  const trainingsTotal = new Counter({
    name: "openloop_feedback_trainings_total",
    help: "Trainings of online models by result",
    labelNames: ["model", "result"],
    registers: [ctx.metrics],
  });
  const onTraining = (model: string, run: TrainingRun) => trainingsTotal.inc({ model, result: run.succeeded ? "succeeded" : "failed" });
  const acceptedTotal = new Counter({
    name: "openloop_feedback_samples_accepted_total",
    help: "Samples durably buffered for training (ingestion and significant feedback)",
    labelNames: ["model"],
    registers: [ctx.metrics],
  });
  const rejectedTotal = new Counter({
    name: "openloop_feedback_samples_rejected_total",
    help: "Samples refused at ingestion, by reason",
    labelNames: ["reason"],
    registers: [ctx.metrics],
  });

  const features = createClient(FeatureService, deps.features);
  const processFeatures: FeatureProcessor = async (featureSet, input, call) => {
    const res = await features.processFeatures({ featureSet, features: input as never }, { timeoutMs: call?.timeoutMs, signal: call?.signal });
    return res.features as FeatureMap;
  };

  const checkFeatureSet = async (name: string) => {
    try {
      await features.getFeatureSet({ name });
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.NotFound) throw new ConnectError(`feature set '${quote(name)}' does not exist; create it in FeatureService first, or leave feature_set empty`, Code.FailedPrecondition);
      throw e;
    }
  };

  let definitions: DefinitionStore;
  let predictions: PredictionStore;
  let openBuffer: (def: ModelDefinition) => Promise<FsSampleBuffer | RedisSampleBuffer>;
  let lock: RedisTrainingLock | undefined;
  let redis: Redis | undefined;
  let subscriber: Redis | undefined;
  if (config.redis?.url) {
    // The one fail-fast policy: while Redis is down or silent, calls answer UNAVAILABLE after commandTimeoutMs.
    redis = createRedisClient(config.redis.url, config.redis);
    redis.on("error", (err: Error) => log.debug({ err: err.message }, "redis error"));
    subscriber = createRedisSubscriber(config.redis.url, config.redis);
    subscriber.on("error", (err: Error) => log.debug({ err: err.message }, "redis subscriber error"));
    // Nothing queues before the connection is up and the engine loads definitions on first use:
    // wait for it, bounded; a Redis that is down must still not hold up the server's start.
    if (!(await redisReady(redis, config.redis.connectTimeoutMs))) {
      log.warn({ waitedMs: config.redis.connectTimeoutMs }, "feedback: redis not reachable at start; calls answer UNAVAILABLE (health NOT_SERVING) until it is");
    }
    const shared = redis;
    const prefix = fc.redisKeyPrefix;
    definitions = new RedisDefinitionStore(shared, prefix);
    predictions = new RedisPredictionStore(shared, fc.predictionTtlMs, prefix);
    openBuffer = async (def) => new RedisSampleBuffer(shared, def.name, prefix, fc.batchIdTtlMs);
    lock = new RedisTrainingLock(shared, fc.lockTtlMs, prefix);
    if (deps.shared) definitions = new PgDefinitionStore(deps.shared.db);
  } else {
    const fsDefs = new FsDefinitionStore(path.join(config.dataDir, "feedback", "models"));
    definitions = fsDefs;
    predictions = new MemoryPredictionStore(fc.predictionTtlMs, fc.maxPredictions);
    openBuffer = (def) => FsSampleBuffer.open(fsDefs.modelDir(def.name), fc.segmentBytes, log, { batchIdTtlMs: fc.batchIdTtlMs });
  }
  // Each store operation in a span while tracing runs (README "Tracing").
  {
    const backend = { "db.system.name": redis ? "redis" : "filesystem" };
    definitions = traceStore(definitions, "feedback.definitions", backend);
    predictions = traceStore(predictions, "feedback.predictions", { "db.system.name": redis ? "redis" : "memory" });
    const open = openBuffer;
    openBuffer = async (def) => traceStore(await open(def), "feedback.buffer", backend);
    if (lock) lock = traceStore(lock, "feedback.lock", backend);
  }

  const engine = new FeedbackEngine({
    definitions,
    openBuffer,
    predictions,
    versions: new RegistryVersionStore(deps.registry),
    performance: new PerformanceTracker(fc.performanceWindow, fc.performanceVersions, ctx.metrics),
    processFeatures,
    checkFeatureSet,
    log,
    configured: fc.models.map(fromConfig),
    onAccepted: (model, count) => acceptedTotal.inc({ model }, count),
    onRejected: (reason) => rejectedTotal.inc({ reason }),
    learner: {
      lock,
      log,
      options: { maxBufferedSamples: fc.maxBufferedSamples, maxTrainingSamples: fc.maxTrainingSamples, retryDelayMs: fc.retryDelayMs, lockTtlMs: fc.lockTtlMs },
      onTraining,
      onSwitch: redis ? (model, version) => void redis.publish(switchChannel, JSON.stringify({ model, version })).catch(() => {}) : undefined,
    },
  });

  new Gauge({
    name: "openloop_feedback_buffered_samples",
    help: "Samples waiting for the next training, per online model",
    labelNames: ["model"],
    registers: [ctx.metrics],
    async collect() {
      this.reset();
      for (const [model, n] of await engine.buffered()) this.set({ model }, n);
    },
  });

  let refresher: NodeJS.Timeout | undefined;
  if (subscriber) {
    // Notifications can be missed while a connection is down: poll the shared state too.
    refresher = setInterval(() => void engine.refresh(), REFRESH_MS);
    refresher.unref();
    // Not awaited: a Redis that is down must not hold up the server's start; ioredis
    // subscribes once it connects (and again after every reconnect).
    subscriber.subscribe(switchChannel).catch((err: unknown) => log.warn({ err }, "cannot subscribe to version switches; polling only"));
    subscriber.on("message", (_channel: string, message: string) => {
      let m: { model?: unknown; version?: unknown };
      try {
        m = JSON.parse(message) as typeof m;
      } catch {
        return;
      }
      if (typeof m.model !== "string" || typeof m.version !== "string") return;
      engine.follow(m.model, m.version).catch((err: unknown) => log.warn({ err, model: m.model }, "cannot follow a version trained by another replica"));
    });
  }

  // Health: FeedbackService cannot serve while its Redis is unreachable.
  const probe = redis ? new RedisProbe(redis, config.redis!.commandTimeoutMs) : undefined;
  return {
    services: [
      bind(FeedbackService, createFeedbackService(engine), {
        // Map-form samples are decoded straight to hashed features (sample-decode.ts).
        decoders: {
          ingestSamples: (bytes) => decodeSamplesRequest(IngestSamplesRequestSchema, bytes),
          ingestSampleBatch: (bytes) => decodeSamplesRequest(IngestSampleBatchRequestSchema, bytes),
        },
      }),
    ],
    dependencies: probe ? [{ service: FeedbackService.typeName, probe, component: "redis" }] : [],
    async close() {
      probe?.close();
      if (refresher) clearInterval(refresher);
      await engine.close();
      await predictions.close();
      subscriber?.disconnect();
      await redis?.quit().catch(() => {});
    },
  };
}

function fromConfig(m: OnlineModelConfig): NewModel {
  return {
    name: m.name,
    task: m.task,
    optimizer: m.optimizer,
    learningRate: m.learningRate,
    l2: m.l2,
    buckets: m.buckets,
    epochs: m.epochs,
    scaling: m.scaling,
    errorThreshold: m.errorThreshold,
    updateThreshold: m.updateThreshold,
    warmUp: m.warmUp,
    trainingSamples: m.trainingSamples,
    maxVersions: m.maxVersions,
    minTrainIntervalMs: m.minTrainIntervalMs,
    featureSet: m.featureSet,
    description: m.description,
  };
}
