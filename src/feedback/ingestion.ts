// One IngestSamples / IngestSampleBatch call: validates and hashes samples (maps of
// FeatureValue, or columnar DenseSamples), scores each with the serving version in the
// same pass (progressive validation), appends them per model as one durable record per
// message (tagged with the message's batch id, if any), and counts what was accepted,
// rejected and already buffered under the same batch id.
import { Code, ConnectError } from "@connectrpc/connect";
import { CLIENT_ID_PATTERN } from "./config.js";
import type { CallOptions, FeedbackEngine } from "./engine.js";
import { toConnectError } from "./errors.js";
import { bucket, FeatureError, fnv1a, MAX_ENTRIES_PER_SAMPLE, nonFiniteFeature, SparseVector, vectorize, type FeatureMap, type FeatureValueLike } from "./hashing.js";
import type { ModelLearner } from "./learner.js";
import type { Task } from "./linear.js";
import { ProgressiveSums, type PerformanceTracker } from "./performance.js";
import { releaseRawSamples, sampleMessage, type RawSamples } from "./sample-decode.js";
import { SampleBlockBuilder, type BatchTag } from "./samples.js";
import { quote } from "../platform/errors.js";

/** An outcome as the contract carries it: a number for regression, a boolean for classification. */
export type OutcomeLike = { case: "value"; value: number } | { case: "label"; value: boolean } | { case: undefined; value?: undefined };

export interface SampleLike {
  model: string;
  features: FeatureMap;
  outcome?: { kind: OutcomeLike };
}

/** Rows of numeric features in columnar form (the contract's DenseSamples). */
export interface DenseLike {
  model: string;
  featureNames: string[];
  values: number[];
  targets: number[];
  labels: boolean[];
}

export type RejectionReason = "unknown-model" | "bad-features" | "wrong-label-type" | "non-finite-label";

export interface Rejection {
  index: number;
  reason: RejectionReason;
  message: string;
}

export const MAX_REJECTIONS_REPORTED = 100;
// Appends of one call in flight at once, overlapping with decoding the next messages.
const MAX_INFLIGHT_APPENDS = 8;

/** A model's samples of the current message, and their progressive validation sums. */
interface Target {
  readonly learner: ModelLearner;
  readonly builder: SampleBlockBuilder;
  /** One per version that served while the message was read (almost always one). */
  readonly scores: ProgressiveSums[];
}

/** One IngestSamples / IngestSampleBatch call. */
export class Ingestion {
  accepted = 0;
  rejected = 0;
  /** Valid samples of batches their model had already buffered. */
  duplicates = 0;
  readonly rejections: Rejection[] = [];
  private index = 0;
  private readonly vec = new SparseVector();
  private readonly pending = new Map<string, Target>();
  private readonly unknown = new Set<string>();
  private readonly inflight: Promise<void>[] = [];

  constructor(
    private readonly engine: FeedbackEngine,
    private readonly performance: PerformanceTracker,
    private readonly call?: CallOptions,
  ) {}

  /**
   * Validates and vectorizes one message's samples (then its dense rows), scoring each
   * with its model's serving version, and starts their durable append. A non-empty
   * `batchId` makes a resent message safe: a model that already buffered it skips it.
   */
  async add(defaultModel: string, samples: readonly SampleLike[], dense: readonly DenseLike[] = [], batchId = "", raw?: RawSamples): Promise<void> {
    if (batchId !== "" && !CLIENT_ID_PATTERN.test(batchId)) {
      throw new ConnectError(`batch_id must be empty or 1-128 chars of [A-Za-z0-9._:-], got ${JSON.stringify(quote(batchId))}`, Code.InvalidArgument);
    }
    await this.addSamples(defaultModel, samples);
    if (raw) {
      try {
        await this.addRaw(defaultModel, raw);
      } finally {
        releaseRawSamples(raw);
      }
    }
    for (const d of dense) await this.addDense(defaultModel, d);
    this.flushBuilders(batchId === "" ? undefined : { id: batchId, time: Date.now() });
    // Appends overlap with decoding the next message; bound how many wait.
    while (this.inflight.length > MAX_INFLIGHT_APPENDS) await this.settleFirst();
  }

  /** Waits for the oldest append; its failure becomes the code the client receives. */
  private async settleFirst(): Promise<void> {
    try {
      await this.inflight.shift();
    } catch (err) {
      throw toConnectError(err);
    }
  }

  private async addSamples(defaultModel: string, samples: readonly SampleLike[]): Promise<void> {
    for (const s of samples) {
      const index = this.index++;
      const name = s.model || defaultModel;
      const target = await this.target(name);
      if (!target) {
        this.reject(index, "unknown-model", unknownModel(name, "sample"));
        continue;
      }
      const label = labelFor(target.learner.def.task, s.outcome?.kind ?? { case: undefined });
      if (typeof label !== "number") {
        this.reject(index, label.reason, label.message);
        continue;
      }
      const def = target.learner.def;
      if (def.featureSet) {
        if (!(await this.vectorizeVia(def.featureSet, s.features, def.hp.buckets, index))) continue;
      } else {
        try {
          vectorize(s.features, def.hp.buckets, this.vec);
        } catch (err) {
          if (!(err instanceof FeatureError)) throw err;
          this.reject(index, "bad-features", err.message);
          continue;
        }
      }
      score(target, this.vec, label);
      target.builder.add(this.vec, label);
    }
  }

  // Map-form samples decoded straight from the request's bytes (sample-decode.ts): the
  // same checks, in the same order, and the same vectors as addSamples gives their messages.
  private async addRaw(defaultModel: string, raw: RawSamples): Promise<void> {
    const v = this.vec;
    let lastName: string | undefined;
    let target: Target | undefined;
    for (let i = 0; i < raw.count; i++) {
      const index = this.index++;
      const name = raw.models[i] || defaultModel;
      if (name !== lastName) {
        target = await this.target(name);
        lastName = name;
      }
      if (!target) {
        this.reject(index, "unknown-model", unknownModel(name, "sample"));
        continue;
      }
      const def = target.learner.def;
      const label = labelOf(def.task, raw.outcomeKind[i]!, raw.outcome[i]!);
      if (typeof label !== "number") {
        this.reject(index, label.reason, label.message);
        continue;
      }
      if (def.featureSet) {
        if (!(await this.vectorizeVia(def.featureSet, sampleMessage(raw, i).features, def.hp.buckets, index))) continue;
      } else {
        const buckets = def.hp.buckets;
        const start = raw.offsets[i]!;
        const end = raw.offsets[i + 1]!;
        let ok = end - start <= MAX_ENTRIES_PER_SAMPLE;
        v.nnz = 0;
        for (let e = start; ok && e < end; e++) {
          const x = raw.values[e]!;
          ok = Number.isFinite(x);
          v.push(bucket(raw.hashes[e]!, buckets), x);
        }
        if (ok) v.push(buckets, 1);
        else {
          // A bad feature: the reference path words the rejection.
          try {
            vectorize(sampleMessage(raw, i).features, buckets, v);
          } catch (err) {
            if (!(err instanceof FeatureError)) throw err;
            this.reject(index, "bad-features", err.message);
            continue;
          }
        }
      }
      score(target, v, label);
      target.builder.add(v, label);
    }
  }

  /** Processes features through a feature set and vectorizes them; false when the sample was rejected. */
  private async vectorizeVia(featureSet: string, features: FeatureMap, buckets: number, index: number): Promise<boolean> {
    try {
      vectorize(await this.engine.process(featureSet, features, this.call), buckets, this.vec);
      return true;
    } catch (err) {
      if (err instanceof FeatureError || (err instanceof ConnectError && err.code === Code.InvalidArgument)) {
        this.reject(index, "bad-features", err.message);
        return false;
      }
      throw err;
    }
  }

  // Columnar rows: names are hashed once per block, rows are copied, nothing is allocated per row.
  private async addDense(defaultModel: string, d: DenseLike): Promise<void> {
    const k = d.featureNames.length;
    const rows = Math.max(d.targets.length, d.labels.length);
    const bad = (msg: string) => new ConnectError(`dense block: ${msg}`, Code.InvalidArgument);
    if (d.targets.length > 0 && d.labels.length > 0) throw bad("give targets (regression) or labels (classification), not both");
    if (d.values.length !== rows * k) throw bad(`values must hold rows x features = ${rows} x ${k} = ${rows * k} numbers, got ${d.values.length}`);
    if (new Set(d.featureNames).size !== k) throw bad("feature_names must be unique");
    const first = this.index;
    this.index += rows;
    const name = d.model || defaultModel;
    const target = await this.target(name);
    if (!target) {
      for (let r = 0; r < rows; r++) this.reject(first + r, "unknown-model", unknownModel(name, "block"));
      return;
    }
    const def = target.learner.def;
    const regression = def.task === "regression";
    if (regression ? d.labels.length > 0 : d.targets.length > 0) {
      const msg = regression ? "a regression model needs numeric targets" : "a binary classification model needs true/false labels";
      for (let r = 0; r < rows; r++) this.reject(first + r, "wrong-label-type", msg);
      return;
    }
    const buckets = def.hp.buckets;
    const slots = new Int32Array(k);
    for (let j = 0; j < k; j++) slots[j] = bucket(fnv1a(d.featureNames[j]!), buckets);
    const v = this.vec;
    const values = d.values;
    rows: for (let r = 0; r < rows; r++) {
      const label = regression ? d.targets[r]! : d.labels[r] ? 1 : 0;
      if (!Number.isFinite(label)) {
        this.reject(first + r, "non-finite-label", `the target must be a finite number, got ${label}`);
        continue;
      }
      if (def.featureSet) {
        const features: Record<string, FeatureValueLike> = {};
        for (let j = 0; j < k; j++) features[d.featureNames[j]!] = { kind: { case: "doubleValue", value: values[r * k + j]! } };
        if (!(await this.vectorizeVia(def.featureSet, features, buckets, first + r))) continue;
      } else {
        v.nnz = 0;
        for (let j = 0; j < k; j++) {
          const x = values[r * k + j]!;
          if (!Number.isFinite(x)) {
            this.reject(first + r, "bad-features", nonFiniteFeature(d.featureNames[j]!, x));
            continue rows;
          }
          v.push(slots[j]!, x);
        }
        v.push(buckets, 1);
      }
      score(target, v, label);
      target.builder.add(v, label);
    }
  }

  private flushBuilders(batch: BatchTag | undefined): void {
    for (const { learner, builder, scores } of this.pending.values()) {
      if (builder.count === 0) continue;
      const count = builder.count;
      const record = builder.encode(batch);
      builder.reset();
      const scored = scores.splice(0);
      const appended = learner.ingest(record, count, batch).then((appended) => {
        if (!appended) {
          this.duplicates += count;
          return;
        }
        this.accepted += count;
        this.engine.accepted(learner.def.name, count);
        for (const sums of scored) this.performance.scored(learner.def.name, sums);
      });
      // Appends are awaited in order (add, finish, abandon): one that fails (a full buffer)
      // while an earlier one is awaited must not count as an unhandled rejection, which
      // ends the process.
      appended.catch(() => {});
      this.inflight.push(appended);
    }
  }

  /** After a failed call: lets started appends settle, reporting nothing. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.inflight.splice(0));
  }

  /** Waits until every accepted sample is durable. */
  async finish(): Promise<void> {
    try {
      while (this.inflight.length > 0) await this.settleFirst();
    } catch (err) {
      await Promise.allSettled(this.inflight);
      throw err;
    }
  }

  private async target(name: string): Promise<Target | undefined> {
    if (name === "" || this.unknown.has(name)) return undefined;
    let t = this.pending.get(name);
    if (!t) {
      try {
        t = { learner: await this.engine.learner(name), builder: new SampleBlockBuilder(), scores: [] };
      } catch (err) {
        const code = err instanceof ConnectError ? err.code : Code.Unknown;
        if (code !== Code.NotFound && code !== Code.InvalidArgument) throw err;
        this.unknown.add(name);
        return undefined;
      }
      this.pending.set(name, t);
    }
    return t;
  }

  private reject(index: number, reason: RejectionReason, message: string): void {
    this.rejected++;
    this.engine.rejectedOne(reason);
    if (this.rejections.length < MAX_REJECTIONS_REPORTED) this.rejections.push({ index, reason, message });
  }
}

/**
 * Progressive validation: scores a vectorized sample with the version serving now, before
 * it is learned. Reads the serving model afresh for every sample (a model is reused once
 * it stops serving), and allocates only when the serving version changed.
 */
function score(target: Target, v: SparseVector, label: number): void {
  const serving = target.learner.serving;
  let sums = target.scores.at(-1);
  if (sums?.version !== serving.version) {
    sums = new ProgressiveSums(target.learner.def.task, serving.version);
    target.scores.push(sums);
  }
  sums.add(serving.model.predict(v.idx, v.val, v.nnz), label);
}

export function labelFor(task: Task, o: OutcomeLike): number | { reason: RejectionReason; message: string } {
  return labelOf(task, o.case === "value" ? 1 : o.case === "label" ? 2 : 0, o.case === "value" ? o.value : o.value ? 1 : 0);
}

/** The label of an outcome given as its kind (0 none, 1 value, 2 label) and its value (a label as 1 / 0). */
function labelOf(task: Task, kind: number, value: number): number | { reason: RejectionReason; message: string } {
  if (task === "regression") {
    if (kind !== 1) return { reason: "wrong-label-type", message: "a regression model needs a numeric outcome (outcome.value)" };
    if (!Number.isFinite(value)) return { reason: "non-finite-label", message: `the outcome must be a finite number, got ${value}` };
    return value;
  }
  if (kind !== 2) return { reason: "wrong-label-type", message: "a binary classification model needs a true/false outcome (outcome.label)" };
  return value;
}

function unknownModel(name: string, what: "sample" | "block"): string {
  return name === "" ? `no model named (set the request's or the ${what}'s model)` : `online model '${quote(name)}' does not exist`;
}
