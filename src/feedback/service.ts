// FeedbackService: a thin adapter from the generated contract to the engine.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  FeedbackService,
  HyperparametersSchema,
  OnlineModelSchema,
  Optimizer,
  ProgressiveScoreSchema,
  RejectionReason,
  Scaling,
  Task,
  TrainingSamples,
  TrainingRunSchema,
  type IngestSamplesRequest,
  type OnlineModel,
  type Prediction,
  RejectionSchema,
  type Rejection,
} from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import type { ModelDefinition, TrainingSamples as DomainTrainingSamples } from "./definitions.js";
import type { CallOptions, FeedbackEngine, NewModel } from "./engine.js";
import type { Ingestion, RejectionReason as DomainReason } from "./ingestion.js";
import type { TrainingRun } from "./learner.js";
import type { ProgressiveFigures } from "./performance.js";
import { rawSamplesOf } from "./sample-decode.js";
import type { Scaling as DomainScaling, Task as DomainTask } from "./linear.js";

const MAX_PAGE = 1000;

export function createFeedbackService(engine: FeedbackEngine): ServiceImpl<typeof FeedbackService> {
  return {
    async createOnlineModel(req) {
      const task = toDomainTask(req.task);
      const hp = req.hyperparameters;
      const input: NewModel = {
        name: req.name,
        task,
        optimizer: hp?.optimizer === Optimizer.ADAM ? "adam" : "adagrad",
        learningRate: hp?.learningRate,
        l2: hp?.l2,
        buckets: hp?.hashBuckets,
        epochs: hp?.epochs,
        scaling: toDomainScaling(hp?.scaling ?? Scaling.UNSPECIFIED),
        errorThreshold: req.errorThreshold,
        updateThreshold: req.updateThreshold,
        warmUp: req.warmUp,
        trainingSamples: toDomainTrainingSamples(req.trainingSamples),
        maxVersions: req.maxVersions,
        minTrainIntervalMs: req.minTrainIntervalMs,
        featureSet: req.featureSet,
        description: req.description,
      };
      const m = await engine.createModel(input);
      return { model: toOnlineModel(m.def, m.serving) };
    },

    async getOnlineModel(req) {
      const m = await engine.getModel(req.name);
      return { model: toOnlineModel(m.def, m.serving) };
    },

    async listOnlineModels(req) {
      if (req.pageSize < 0) throw new ConnectError(`page_size must be >= 0, got ${req.pageSize}`, Code.InvalidArgument);
      const size = Math.min(req.pageSize || 100, MAX_PAGE);
      const all = await engine.listModels();
      const after = req.pageToken === "" ? "" : Buffer.from(req.pageToken, "base64url").toString("utf8");
      const rest = all.filter((m) => m.def.name > after);
      const page = rest.slice(0, size);
      const more = rest.length > size;
      return {
        models: page.map((m) => toOnlineModel(m.def, m.serving)),
        nextPageToken: more ? Buffer.from(page.at(-1)!.def.name, "utf8").toString("base64url") : "",
      };
    },

    async predict(req, ctx) {
      const r = await engine.predict(req.model, req.features, req.version, callOf(ctx));
      return { predictionId: r.id, modelVersion: r.version, prediction: toPrediction(r.task, r.prediction) };
    },

    async recordPrediction(req, ctx) {
      if (!req.prediction) throw new ConnectError("prediction is required: the output that was given", Code.InvalidArgument);
      const id = await engine.recordPrediction(req.model, req.version, req.features, predictionValue(req.prediction), req.predictionId, callOf(ctx));
      return { predictionId: id };
    },

    async submitFeedback(req) {
      if (!req.actual || req.actual.kind.case === undefined) {
        throw new ConnectError("actual is required: outcome.value for regression, outcome.label for classification", Code.InvalidArgument);
      }
      const r = await engine.submitFeedback(req.predictionId, req.actual.kind);
      return { error: r.error, sentToLearner: r.sentToLearner, model: r.model, modelVersion: r.version };
    },

    async ingestSamples(requests: AsyncIterable<IngestSamplesRequest>, ctx) {
      const ingestion = engine.ingestion(callOf(ctx));
      try {
        for await (const req of requests) {
          if (ctx.signal.aborted) break;
          await ingestion.add(req.model, req.samples, req.dense, req.batchId, rawSamplesOf(req));
        }
      } catch (err) {
        await ingestion.abandon();
        throw err;
      }
      await ingestion.finish();
      if (ctx.signal.aborted) throw new ConnectError("the call was cancelled", Code.Canceled);
      return ingestionResponse(ingestion);
    },

    async ingestSampleBatch(req, ctx) {
      const ingestion = engine.ingestion(callOf(ctx));
      try {
        await ingestion.add(req.model, req.samples, req.dense, req.batchId, rawSamplesOf(req));
      } catch (err) {
        await ingestion.abandon();
        throw err;
      }
      await ingestion.finish();
      return ingestionResponse(ingestion);
    },

    async getLearnerStatus(req) {
      const s = await engine.status(req.model);
      const l = await engine.learner(req.model);
      return {
        model: req.model,
        bufferedSamples: BigInt(s.buffered),
        updateThreshold: l.trainAt(),
        currentVersion: s.currentVersion,
        samplesSeen: BigInt(s.samplesSeen),
        trainings: BigInt(s.trainings),
        training: s.training,
        lastTraining: s.lastTraining ? toTrainingRun(s.lastTraining) : undefined,
      };
    },

    async getModelPerformance(req) {
      const figures = await engine.performance(req.model, req.version);
      return {
        model: req.model,
        progressive: toProgressiveScore(figures.progressive),
        versions: figures.versions.map((f) => ({
          version: f.version,
          feedbackCount: BigInt(f.feedbackCount),
          windowCount: BigInt(f.windowCount),
          significantErrors: BigInt(f.significantErrors),
          mae: f.mae,
          rmse: f.rmse,
          accuracy: f.accuracy,
          logLoss: f.logLoss,
          progressive: toProgressiveScore(f.progressive),
        })),
      };
    },
  };
}

// Read when used: a Predict without a feature set never needs the call's abort signal, and
// the transport builds it only on first read.
function callOf(ctx: HandlerContext): CallOptions {
  return {
    get timeoutMs() {
      return ctx.timeoutMs();
    },
    get signal() {
      return ctx.signal;
    },
  };
}

function toDomainTask(t: Task): DomainTask {
  if (t === Task.REGRESSION) return "regression";
  if (t === Task.BINARY_CLASSIFICATION) return "classification";
  throw new ConnectError("task is required: TASK_REGRESSION or TASK_BINARY_CLASSIFICATION", Code.InvalidArgument);
}

function toDomainScaling(s: Scaling): DomainScaling | undefined {
  if (s === Scaling.UNSPECIFIED) return undefined;
  if (s === Scaling.NONE) return "none";
  if (s === Scaling.STANDARDIZE) return "standardize";
  throw new ConnectError(`hyperparameters.scaling must be SCALING_NONE or SCALING_STANDARDIZE, got ${s}`, Code.InvalidArgument);
}

function toDomainTrainingSamples(t: TrainingSamples): DomainTrainingSamples | undefined {
  if (t === TrainingSamples.UNSPECIFIED) return undefined;
  if (t === TrainingSamples.SIGNIFICANT_ERRORS) return "significant-errors";
  if (t === TrainingSamples.ALL_OUTCOMES) return "all-outcomes";
  throw new ConnectError(`training_samples must be TRAINING_SAMPLES_SIGNIFICANT_ERRORS or TRAINING_SAMPLES_ALL_OUTCOMES, got ${t}`, Code.InvalidArgument);
}

function toOnlineModel(def: ModelDefinition, serving: string): OnlineModel {
  return create(OnlineModelSchema, {
    name: def.name,
    task: def.task === "regression" ? Task.REGRESSION : Task.BINARY_CLASSIFICATION,
    hyperparameters: create(HyperparametersSchema, {
      optimizer: def.hp.optimizer === "adam" ? Optimizer.ADAM : Optimizer.ADAGRAD,
      learningRate: def.hp.learningRate,
      l2: def.hp.l2,
      hashBuckets: def.hp.buckets,
      epochs: def.hp.epochs,
      scaling: def.hp.scaling === "standardize" ? Scaling.STANDARDIZE : Scaling.NONE,
    }),
    errorThreshold: def.errorThreshold,
    updateThreshold: def.updateThreshold,
    warmUp: def.warmUp,
    trainingSamples: def.trainingSamples === "all-outcomes" ? TrainingSamples.ALL_OUTCOMES : TrainingSamples.SIGNIFICANT_ERRORS,
    maxVersions: def.maxVersions,
    minTrainIntervalMs: def.minTrainIntervalMs,
    featureSet: def.featureSet,
    currentVersion: serving,
    description: def.description,
    createTime: timestampFromMs(def.createTime),
  });
}

function toPrediction(task: DomainTask, value: number): { value: number; label?: boolean } {
  return task === "regression" ? { value } : { value, label: value >= 0.5 };
}

function predictionValue(p: Prediction): number {
  if (p.label !== undefined && p.value === 0) return p.label ? 1 : 0;
  return p.value;
}

const REASONS: Record<DomainReason, RejectionReason> = {
  "unknown-model": RejectionReason.UNKNOWN_MODEL,
  "bad-features": RejectionReason.BAD_FEATURES,
  "wrong-label-type": RejectionReason.WRONG_LABEL_TYPE,
  "non-finite-label": RejectionReason.NON_FINITE_LABEL,
};

function ingestionResponse(i: Ingestion): { accepted: bigint; rejected: bigint; duplicates: bigint; rejections: Rejection[] } {
  return {
    accepted: BigInt(i.accepted),
    rejected: BigInt(i.rejected),
    duplicates: BigInt(i.duplicates),
    rejections: i.rejections.map((r) => create(RejectionSchema, { index: BigInt(r.index), reason: REASONS[r.reason], message: r.message })),
  };
}

function toProgressiveScore(p: ProgressiveFigures) {
  return create(ProgressiveScoreSchema, { count: BigInt(p.count), mae: p.mae, rmse: p.rmse, accuracy: p.accuracy, logLoss: p.logLoss });
}

function toTrainingRun(r: TrainingRun) {
  return create(TrainingRunSchema, {
    startTime: timestampFromMs(r.startTime),
    finishTime: timestampFromMs(r.finishTime),
    succeeded: r.succeeded,
    error: r.error,
    producedVersion: r.producedVersion,
    samplesUsed: BigInt(r.samplesUsed),
    lossBefore: r.lossBefore,
    lossAfter: r.lossAfter,
  });
}
