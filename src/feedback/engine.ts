// The feedback loop without the wire: online models, predictions, feedback, learner
// status and performance (ingestion.ts takes bulk samples). service.ts adapts it to the
// generated types.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { ArtifactError, decodeArtifact } from "./artifact.js";
import type { SampleBuffer } from "./buffer.js";
import { CLIENT_ID_PATTERN, MAX_BUCKETS, MODEL_NAME_PATTERN } from "./config.js";
import type { DefinitionStore, ModelDefinition, TrainingSamples } from "./definitions.js";
import { FeatureError, SparseVector, vectorize, type FeatureMap } from "./hashing.js";
import { Ingestion, labelFor, type OutcomeLike, type RejectionReason } from "./ingestion.js";
import { storeCall, storeError, toConnectError } from "./errors.js";
import { ModelLearner, type LearnerDeps, type ServingVersion } from "./learner.js";
import { feedbackError, type Hyperparameters, type LinearModel, type OptimizerKind, type Scaling, type Task } from "./linear.js";
import { ProgressiveSums, type PerformanceTracker, type ProgressiveFigures, type VersionFigures } from "./performance.js";
import type { PredictionStore } from "./predictions.js";
import { SampleBlockBuilder } from "./samples.js";
import { ARTIFACT_NAME, MODEL_TYPE, type DescribedVersion, type VersionStore } from "./versions.js";
import { quote } from "../platform/errors.js";

/** The calling RPC's deadline and cancellation, passed on to the services we call. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Processes features through a FeatureService feature set. */
export type FeatureProcessor = (featureSet: string, features: FeatureMap, call?: CallOptions) => Promise<FeatureMap>;

/** Throws unless the feature set exists. */
export type FeatureSetCheck = (featureSet: string) => Promise<void>;

export interface NewModel {
  name: string;
  task: Task;
  optimizer?: Hyperparameters["optimizer"];
  learningRate?: number;
  l2?: number;
  buckets?: number;
  epochs?: number;
  /** Default "standardize". */
  scaling?: Scaling;
  errorThreshold?: number;
  updateThreshold?: number;
  /** Default true. */
  warmUp?: boolean;
  /** Default "all-outcomes". */
  trainingSamples?: TrainingSamples;
  /** Default 20; 0 keeps every version. */
  maxVersions?: number;
  /** Default 0. */
  minTrainIntervalMs?: number;
  featureSet?: string;
  description?: string;
}

export interface EngineDeps {
  definitions: DefinitionStore;
  openBuffer: (def: ModelDefinition) => Promise<SampleBuffer>;
  predictions: PredictionStore;
  versions: VersionStore;
  performance: PerformanceTracker;
  processFeatures: FeatureProcessor;
  checkFeatureSet: FeatureSetCheck;
  learner: Omit<LearnerDeps, "versions">;
  log: Logger;
  /** Models of the config file, created on first use when missing. */
  configured: readonly NewModel[];
  /** Counts ingested samples (metrics). */
  onAccepted?: (model: string, count: number) => void;
  onRejected?: (reason: RejectionReason) => void;
}

export class FeedbackEngine {
  private readonly learners = new Map<string, Promise<ModelLearner>>();
  private readonly pinned = new LRUCache<string, ServingVersion>({ max: 64 });
  private readonly vec = new SparseVector();
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: EngineDeps) {}

  /**
   * Opens every known model (replaying buffers, resuming training) and creates the
   * configured ones. Runs on first use, not at construction: the registry is reached
   * through the in-process transport, which exists only once every service is mounted.
   */
  start(): Promise<void> {
    this.started ??= this.doStart().catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  private async doStart(): Promise<void> {
    // One model that cannot load (its registry entry gone, say) must not stop the others.
    for (const m of this.deps.configured) {
      try {
        if (!(await this.deps.definitions.get(m.name))) await this.create(m);
      } catch (err) {
        if (ConnectError.from(err).code !== Code.AlreadyExists) this.deps.log.error({ err, model: m.name }, "cannot create configured online model");
      }
    }
    for (const def of await storeCall(() => this.deps.definitions.list())) {
      await this.open(def.name).catch((err: unknown) => this.deps.log.error({ err, model: def.name }, "cannot open online model"));
    }
  }

  async createModel(input: NewModel): Promise<{ def: ModelDefinition; serving: string }> {
    await this.start();
    return this.create(input);
  }

  private async create(input: NewModel): Promise<{ def: ModelDefinition; serving: string }> {
    const def = makeDefinition(input);
    if (def.featureSet) await this.deps.checkFeatureSet(def.featureSet);
    if (!(await storeCall(() => this.deps.definitions.create(def)))) {
      throw new ConnectError(`online model '${def.name}' already exists; choose another name`, Code.AlreadyExists);
    }
    const learner = await this.open(def.name);
    return { def: learner.def, serving: learner.serving.version };
  }

  async getModel(name: string): Promise<{ def: ModelDefinition; serving: string }> {
    const l = await this.learner(name);
    return { def: l.def, serving: l.serving.version };
  }

  async listModels(): Promise<{ def: ModelDefinition; serving: string }[]> {
    await this.start();
    const defs = (await storeCall(() => this.deps.definitions.list())).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return Promise.all(defs.map((d) => this.getModel(d.name)));
  }

  /** The learner of `name`, opened on first use. NOT_FOUND for an unknown model. */
  async learner(name: string): Promise<ModelLearner> {
    await this.start();
    return this.open(name);
  }

  private open(name: string): Promise<ModelLearner> {
    if (this.closed) return Promise.reject(new ConnectError("the feedback service is shutting down", Code.Unavailable));
    let l = this.learners.get(name);
    if (!l) {
      l = this.openLearner(name);
      this.learners.set(name, l);
      l.catch(() => this.learners.delete(name));
    }
    return l;
  }

  private async openLearner(name: string): Promise<ModelLearner> {
    if (!MODEL_NAME_PATTERN.test(name) || name.includes("..")) {
      throw new ConnectError(`model name must be 1-64 chars of [a-z0-9._-] starting with a letter or digit, got ${JSON.stringify(quote(name))}`, Code.InvalidArgument);
    }
    const def = await storeCall(() => this.deps.definitions.get(name));
    if (!def) throw new ConnectError(`online model '${quote(name)}' does not exist; create it with CreateOnlineModel`, Code.NotFound);
    const buffer = await this.deps.openBuffer(def);
    try {
      return await ModelLearner.open(def, buffer, { ...this.deps.learner, versions: this.deps.versions });
    } catch (err) {
      await buffer.close();
      throw new ConnectError(`online model '${name}' cannot be loaded: ${(err as Error).message}`, Code.Unavailable);
    }
  }

  async predict(name: string, features: FeatureMap, selector: string, call?: CallOptions): Promise<{ id: string; prediction: number; version: string; task: Task }> {
    const learner = await this.learner(name);
    const def = learner.def;
    const input = def.featureSet ? await this.process(def.featureSet, features, call) : features;
    const served = selector === "" ? learner.serving : await this.pinnedVersion(learner, selector, call);
    const { idx, val } = this.vectorizeInput(input, def.hp.buckets);
    const prediction = served.model.predict(idx, val, idx.length);
    const id = randomUUID();
    try {
      // A fresh id: add, not put (no answer to wait for about a taken id), awaited without a wrapper.
      await this.deps.predictions.add(id, { model: name, version: served.version, task: def.task, prediction, idx, val });
    } catch (err) {
      throw storeError(err);
    }
    return { id, prediction, version: served.version, task: def.task };
  }

  async recordPrediction(name: string, version: string, features: FeatureMap, prediction: number, id: string, call?: CallOptions): Promise<string> {
    const learner = await this.learner(name);
    const def = learner.def;
    if (id !== "" && !CLIENT_ID_PATTERN.test(id)) {
      throw new ConnectError(`prediction_id must be 1-128 chars of [A-Za-z0-9._:-], got ${JSON.stringify(quote(id))}`, Code.InvalidArgument);
    }
    if (!Number.isFinite(prediction)) throw new ConnectError(`prediction value must be finite, got ${prediction}`, Code.InvalidArgument);
    if (def.task === "classification" && (prediction < 0 || prediction > 1)) {
      throw new ConnectError(`a classification prediction is a probability in [0, 1], got ${prediction}`, Code.InvalidArgument);
    }
    const resolved = version === "" ? learner.serving.version : (await this.pinnedVersion(learner, version, call)).version;
    const input = def.featureSet ? await this.process(def.featureSet, features, call) : features;
    const { idx, val } = this.vectorizeInput(input, def.hp.buckets);
    const pid = id === "" ? randomUUID() : id;
    if (!(await storeCall(() => this.deps.predictions.put(pid, { model: name, version: resolved, task: def.task, prediction, idx, val })))) {
      throw new ConnectError(`prediction id '${quote(pid)}' is already recorded; use another id`, Code.AlreadyExists);
    }
    return pid;
  }

  async submitFeedback(id: string, actual: OutcomeLike): Promise<{ error: number; sentToLearner: boolean; model: string; version: string }> {
    if (id === "") throw new ConnectError("prediction_id is required (from Predict or RecordPrediction)", Code.InvalidArgument);
    const claim = await storeCall(() => this.deps.predictions.claim(id));
    if (claim.status === "missing") throw new ConnectError(`prediction '${quote(id)}' is unknown or expired`, Code.NotFound);
    if (claim.status === "already-claimed") throw new ConnectError(`prediction '${quote(id)}' already has feedback; it is counted once`, Code.AlreadyExists);
    const rec = claim.record;
    try {
      const label = labelFor(rec.task, actual);
      if (typeof label !== "number") throw new ConnectError(label.message, Code.InvalidArgument);
      const learner = await this.learner(rec.model);
      const error = feedbackError(rec.task, rec.prediction, label);
      const significant = error > learner.def.errorThreshold;
      const trains = significant || learner.def.trainingSamples === "all-outcomes";
      // Progressive validation: the version serving now scores the outcome before it is learned.
      const serving = learner.serving;
      const progressive = new ProgressiveSums(rec.task, serving.version);
      progressive.add(serving.model.predict(rec.idx, rec.val, rec.idx.length), label);
      if (trains) {
        const b = new SampleBlockBuilder();
        const v = new SparseVector(rec.idx.length);
        v.idx.set(rec.idx);
        v.val.set(rec.val);
        v.nnz = rec.idx.length;
        b.add(v, label);
        await learner.ingest(b.encode(), 1);
        this.deps.onAccepted?.(rec.model, 1);
      }
      this.deps.performance.record(rec.model, rec.task, rec.version, rec.prediction, label, error, significant);
      this.deps.performance.scored(rec.model, progressive);
      return { error, sentToLearner: trains, model: rec.model, version: rec.version };
    } catch (err) {
      // Not counted: give the claim back so a retry can succeed.
      await this.deps.predictions.unclaim(id).catch(() => {});
      throw toConnectError(err);
    }
  }

  /** A new ingestion (one RPC): accumulates counts over its messages. */
  ingestion(call?: CallOptions): Ingestion {
    return new Ingestion(this, this.deps.performance, call);
  }

  async status(name: string) {
    const learner = await this.learner(name);
    return storeCall(() => learner.status());
  }

  /** Rolling and progressive figures per version (only `version` unless empty), and progressive figures over every version. */
  async performance(name: string, version: string): Promise<{ versions: VersionFigures[]; progressive: ProgressiveFigures }> {
    await this.learner(name);
    return { versions: this.deps.performance.figures(name, version === "" ? undefined : version), progressive: this.deps.performance.progressive(name) };
  }

  /** Another replica switched `name` to `version`. */
  async follow(name: string, version: string): Promise<void> {
    const l = this.learners.get(name);
    if (l) await (await l).follow(version);
  }

  /** Re-reads the shared state of every open model and follows newer versions (replicas). */
  async refresh(): Promise<void> {
    for (const l of this.learners.values()) {
      try {
        await (await l).refresh();
      } catch (err) {
        this.deps.log.warn({ err }, "cannot refresh an online model from the shared state");
      }
    }
  }

  /** Buffered samples of every open model. */
  async buffered(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [name, l] of this.learners) {
      try {
        out.set(name, (await (await l).status()).buffered);
      } catch {
        // not opened: nothing to report
      }
    }
    return out;
  }

  /** @internal for Ingestion */
  accepted(model: string, count: number): void {
    this.deps.onAccepted?.(model, count);
  }

  /** @internal for Ingestion */
  rejectedOne(reason: RejectionReason): void {
    this.deps.onRejected?.(reason);
  }

  /** @internal for Ingestion */
  process(featureSet: string, features: FeatureMap, call?: CallOptions): Promise<FeatureMap> {
    return this.deps.processFeatures(featureSet, features, call);
  }

  /** The input's hashed vector, in the engine's scratch vector: read it before the next await (stores copy it). */
  private vectorizeInput(features: FeatureMap, buckets: number): { idx: Int32Array; val: Float64Array } {
    try {
      vectorize(features, buckets, this.vec);
    } catch (err) {
      if (err instanceof FeatureError) throw new ConnectError(err.message, Code.InvalidArgument);
      throw err;
    }
    return { idx: this.vec.idx.subarray(0, this.vec.nnz), val: this.vec.val.subarray(0, this.vec.nnz) };
  }

  private async pinnedVersion(learner: ModelLearner, selector: string, call?: CallOptions): Promise<ServingVersion> {
    const name = learner.def.name;
    if (selector === learner.serving.version) return learner.serving;
    const isVersion = /^\d/.test(selector);
    const cached = isVersion ? this.pinned.get(`${name}@${selector}`) : undefined;
    if (cached) return cached;
    const sel = isVersion ? { version: selector } : { alias: selector };
    let described: DescribedVersion;
    try {
      described = await this.deps.versions.describe(name, sel, call?.timeoutMs);
    } catch (err) {
      const ce = ConnectError.from(err);
      if (ce.code === Code.NotFound) throw new ConnectError(`online model '${name}' has no version or alias '${quote(selector)}'`, Code.NotFound);
      throw ce;
    }
    const { version, type } = described;
    if (version === learner.serving.version) return learner.serving;
    const key = `${name}@${version}`;
    const known = this.pinned.get(key);
    if (known) return known;
    // The registry takes any version under any name; an online model serves only its learner's kind.
    const foreign = (why: string) =>
      new ConnectError(`version ${version} of '${name}' has type '${quote(type)}' and ${why}; Predict serves only the '${MODEL_TYPE}' versions an online learner registers`, Code.FailedPrecondition);
    if (type !== MODEL_TYPE) throw foreign("is not an online model version");
    let model: LinearModel;
    try {
      ({ model } = decodeArtifact((await this.deps.versions.load(name, { version }, call?.timeoutMs)).artifact));
    } catch (err) {
      if (err instanceof ArtifactError) throw foreign(`its artifact is not one: ${err.message}`);
      if (ConnectError.from(err).code === Code.NotFound) throw foreign(`has no '${ARTIFACT_NAME}' artifact`);
      throw err;
    }
    if (model.task !== learner.def.task || model.hp.buckets !== learner.def.hp.buckets) {
      throw new ConnectError(`version ${version} of '${name}' is not an online model version of this definition`, Code.FailedPrecondition);
    }
    const served = { version, model };
    this.pinned.set(key, served);
    return served;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.learners.values()];
    this.learners.clear();
    for (const l of all) {
      try {
        await (await l).close();
      } catch {
        // a learner that never opened has nothing to close
      }
    }
  }
}

/**
 * AdaGrad's step: 0.1 for regression, 0.2 for classification, whose bounded log-loss gradient
 * moves the weights less per sample. Chosen by progressive validation (bench/learner-quality.ts,
 * BENCHMARKS.md): on Phishing 0.1 scored 88.96% against River's 89.28%, 0.15-0.3 scored
 * 89.28-89.68%; for regression 0.2 would cost the synthetic target 5.8% over least squares
 * (0.1: 3.3%). Adam: 0.01.
 */
export function defaultLearningRate(optimizer: OptimizerKind, task: Task): number {
  if (optimizer === "adam") return 0.01;
  return task === "classification" ? 0.2 : 0.1;
}

export function makeDefinition(m: NewModel): ModelDefinition {
  const bad = (msg: string) => new ConnectError(msg, Code.InvalidArgument);
  if (!MODEL_NAME_PATTERN.test(m.name) || m.name.includes("..") || m.name.endsWith(".")) {
    throw bad(`name must be 1-64 chars of [a-z0-9._-], starting with a letter or digit, without '..', got ${JSON.stringify(quote(m.name))}`);
  }
  const optimizer = m.optimizer ?? "adagrad";
  const hp: Hyperparameters = {
    optimizer,
    learningRate: m.learningRate ?? defaultLearningRate(optimizer, m.task),
    l2: m.l2 ?? 1e-4,
    buckets: m.buckets ?? 1 << 18,
    epochs: m.epochs ?? 1,
    scaling: m.scaling ?? "standardize",
  };
  if (!(hp.learningRate > 0 && Number.isFinite(hp.learningRate))) throw bad(`learning_rate must be a positive finite number, got ${hp.learningRate}`);
  if (!(hp.l2 >= 0 && Number.isFinite(hp.l2))) throw bad(`l2 must be a finite number >= 0, got ${hp.l2}`);
  if (!Number.isInteger(hp.buckets) || hp.buckets < 1 || hp.buckets > MAX_BUCKETS) throw bad(`hash_buckets must be 1-${MAX_BUCKETS}, got ${hp.buckets}`);
  if (!Number.isInteger(hp.epochs) || hp.epochs < 1 || hp.epochs > 100) throw bad(`epochs must be 1-100, got ${hp.epochs}`);
  if (hp.scaling !== "none" && hp.scaling !== "standardize") throw bad(`scaling must be SCALING_NONE or SCALING_STANDARDIZE, got ${String(hp.scaling)}`);
  const errorThreshold = m.errorThreshold ?? 0.1;
  if (!(errorThreshold >= 0 && Number.isFinite(errorThreshold))) throw bad(`error_threshold must be a finite number >= 0, got ${errorThreshold}`);
  const trainingSamples = m.trainingSamples ?? "all-outcomes";
  if (trainingSamples !== "all-outcomes" && trainingSamples !== "significant-errors") {
    throw bad(`training_samples must be TRAINING_SAMPLES_SIGNIFICANT_ERRORS or TRAINING_SAMPLES_ALL_OUTCOMES, got ${String(trainingSamples)}`);
  }
  const maxVersions = m.maxVersions ?? 20;
  if (!Number.isInteger(maxVersions) || maxVersions < 0 || maxVersions > 1_000_000) throw bad(`max_versions must be 0 (keep all) or 1-1000000, got ${maxVersions}`);
  const minTrainIntervalMs = m.minTrainIntervalMs ?? 0;
  if (!Number.isInteger(minTrainIntervalMs) || minTrainIntervalMs < 0 || minTrainIntervalMs > 86_400_000) {
    throw bad(`min_train_interval_ms must be 0-86400000 (a day), got ${minTrainIntervalMs}`);
  }
  const updateThreshold = m.updateThreshold ?? 100;
  if (!Number.isInteger(updateThreshold) || updateThreshold < 1 || updateThreshold > 10_000_000) {
    throw bad(`update_threshold must be 1-10000000, got ${updateThreshold}`);
  }
  return {
    name: m.name,
    task: m.task,
    hp,
    errorThreshold,
    updateThreshold,
    warmUp: m.warmUp ?? true,
    trainingSamples,
    maxVersions,
    minTrainIntervalMs,
    featureSet: m.featureSet ?? "",
    description: m.description ?? "",
    createTime: Date.now(),
  };
}
