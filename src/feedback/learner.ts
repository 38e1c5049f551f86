// The online learner of one model: buffers samples durably, trains from the serving
// version when the buffer reaches the update threshold, registers the new version,
// switches serving to it, and only then drops the samples it used.
//
// One training at a time per model: in process by the `training` flag, across replicas
// sharing Redis by the training lock. A failed training or registration keeps the buffer
// and is retried after a delay.
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Logger } from "pino";
import { encodeArtifact, decodeArtifact } from "./artifact.js";
import type { LearnerState, SampleBuffer, TakenSamples } from "./buffer.js";
import type { ModelDefinition } from "./definitions.js";
import { LinearModel, loss, type Task } from "./linear.js";
import type { RedisTrainingLock } from "./redis-buffer.js";
import type { BatchTag, SampleBlock } from "./samples.js";
import { compareVersions, PRODUCER, type VersionStore } from "./versions.js";
import { inSpan } from "../platform/tracing/index.js";

export interface ServingVersion {
  readonly version: string;
  readonly model: LinearModel;
}

export interface TrainingRun {
  startTime: number;
  finishTime: number;
  succeeded: boolean;
  error: string;
  producedVersion: string;
  samplesUsed: number;
  lossBefore: number;
  lossAfter: number;
}

export interface LearnerOptions {
  maxBufferedSamples: number;
  maxTrainingSamples: number;
  retryDelayMs: number;
  lockTtlMs: number;
}

export interface LearnerDeps {
  versions: VersionStore;
  /** Shared lock when replicas share the buffer; none for the embedded backend. */
  lock?: RedisTrainingLock;
  log: Logger;
  options: LearnerOptions;
  /** Called after serving switched to a version this process trained. */
  onSwitch?: (model: string, version: string) => void;
  /** Called after each training attempt. */
  onTraining?: (model: string, run: TrainingRun) => void;
}

/** Thrown by ingest when the buffer is full; the service answers RESOURCE_EXHAUSTED. */
export class BufferFullError extends Error {}

// Samples trained between two yields to the event loop, so serving stays responsive.
const TRAIN_SLICE = 8192;
// Longest wait for a running training when the learner closes.
const CLOSE_WAIT_MS = 5000;
// Lineage detail naming the sample log position a version was trained through.
const POSITION_DETAIL = "openloop.feedback.log_position";
// Bound on each registry call of the learner, which no client deadline covers.
const REGISTRY_TIMEOUT_MS = 60_000;
// Samples of a training batch the lineage's before/after figures are taken on, evenly
// spread over a larger batch: evaluating all of a large batch twice cost half as much
// as training on it.
const LINEAGE_EVAL_SAMPLES = 1000;

export class ModelLearner {
  private servingVersion!: ServingVersion;
  private training = false;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private samplesTrained = 0;
  private trainingsDone = 0;
  private last: TrainingRun | undefined;
  private bufferedHint = 0;
  private failures = 0;
  /** The model that served before the last training, reused as the next one's copy. */
  private spare: LinearModel | undefined;
  /** When the last training attempt of this process started (ms since the epoch). */
  private lastStart = 0;
  /** The running deletion of old versions, if any. */
  private pruning: Promise<void> | undefined;

  private constructor(
    readonly def: ModelDefinition,
    private readonly buffer: SampleBuffer,
    private readonly deps: LearnerDeps,
  ) {}

  /**
   * Opens the learner: loads the committed state and the serving version, registering
   * version 1 (zero weights) when the model has none yet. Resumes training when the
   * replayed buffer already holds enough samples.
   */
  static async open(def: ModelDefinition, buffer: SampleBuffer, deps: LearnerDeps): Promise<ModelLearner> {
    const l = new ModelLearner(def, buffer, deps);
    await l.init();
    l.bufferedHint = await buffer.buffered();
    l.maybeTrain();
    return l;
  }

  private async init(): Promise<void> {
    let state = await this.buffer.state();
    if (state.version === "") {
      const token = await this.acquireWaiting();
      try {
        state = await this.buffer.state();
        if (state.version === "") {
          const model = new LinearModel(this.def.task, this.def.hp);
          const artifact = encodeArtifact(model);
          const version = await this.deps.versions.register({
            model: this.def.name,
            version: await this.buffer.reserveVersion(token),
            artifact,
            parentVersion: "",
            samplesUsed: 0,
            details: { initialization: "zero weights" },
            description: this.def.description || `online ${this.def.task} model, initial version`,
          }, REGISTRY_TIMEOUT_MS);
          if (!(await this.buffer.setState({ version, samplesTrained: 0 }, artifact, token))) throw new Error("lost the training lock while registering version 1");
          this.servingVersion = { version, model };
          return;
        }
      } finally {
        if (token && this.deps.lock) await this.deps.lock.release(this.def.name, token);
      }
    }
    state = await this.adoptOrphan(state);
    this.samplesTrained = state.samplesTrained;
    this.servingVersion = await this.loadVersion(state.version);
  }

  // A crash between registering a version and committing it leaves the version in the
  // registry and its samples in the buffer. Its lineage names the log position it was
  // trained through: commit that instead of training the same samples again.
  private async adoptOrphan(state: LearnerState): Promise<LearnerState> {
    const latest = await this.deps.versions.latest(this.def.name, REGISTRY_TIMEOUT_MS);
    const position = latest?.details[POSITION_DETAIL];
    if (!latest || !position || latest.producer !== PRODUCER || latest.parentVersion !== state.version) return state;
    const next = { version: latest.version, samplesTrained: state.samplesTrained + latest.samplesUsed };
    const stored = await this.deps.versions.load(this.def.name, { version: latest.version }, REGISTRY_TIMEOUT_MS);
    if (!(await this.buffer.commitPosition(position, next, stored.artifact))) return state;
    this.deps.log.info({ model: this.def.name, version: latest.version, samples: latest.samplesUsed }, "adopted a version registered before a crash");
    return next;
  }

  private async acquireWaiting(): Promise<string> {
    if (!this.deps.lock) return "";
    for (let attempt = 0; ; attempt++) {
      const token = await this.deps.lock.acquire(this.def.name);
      if (token) return token;
      if (attempt > 200) throw new Error(`the training lock of '${this.def.name}' stays taken`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async loadVersion(version: string): Promise<ServingVersion> {
    const artifact = (await this.buffer.sharedArtifact(version)) ?? (await this.deps.versions.load(this.def.name, { version }, REGISTRY_TIMEOUT_MS)).artifact;
    const { model } = decodeArtifact(artifact);
    if (model.task !== this.def.task || model.hp.buckets !== this.def.hp.buckets || (model.hp.scaling ?? "none") !== (this.def.hp.scaling ?? "none")) {
      throw new Error(`version ${version} of '${this.def.name}' does not fit the model definition (task, buckets or scaling differ)`);
    }
    return { version, model };
  }

  /** The version predictions use now; replaced as a whole, never modified in place. */
  get serving(): ServingVersion {
    return this.servingVersion;
  }

  /**
   * Appends an encoded record of `count` samples durably, then maybe starts a training.
   * False when the record's batch id was buffered before: nothing was appended.
   */
  async ingest(record: Buffer, count: number, batch?: BatchTag): Promise<boolean> {
    if (this.closed) throw new Error("the learner is closed");
    if (this.bufferedHint + count > this.deps.options.maxBufferedSamples) {
      this.bufferedHint = await this.buffer.buffered();
      // A resend of a batch already buffered is acknowledged again, full buffer or not.
      if (batch && (await this.buffer.hasBatch(batch.id))) return false;
      if (this.bufferedHint + count > this.deps.options.maxBufferedSamples) {
        throw new BufferFullError(
          `the learner of '${this.def.name}' has ${this.bufferedHint} samples buffered (limit ${this.deps.options.maxBufferedSamples}); retry after it trains`,
        );
      }
    }
    if (!(await this.buffer.append(record, count, batch))) return false;
    // A shared buffer also fills from other replicas: read the real count.
    this.bufferedHint = this.deps.lock ? await this.buffer.buffered() : this.bufferedHint + count;
    if (this.bufferedHint >= this.trainAt()) this.maybeTrain();
    return true;
  }

  /**
   * Buffered samples that start a training now: the update threshold, or while warming up
   * half the samples trained so far (at least 1), so a new model learns from its first
   * samples at once and its trainings grow geometrically up to the threshold.
   */
  trainAt(): number {
    if (!this.def.warmUp) return this.def.updateThreshold;
    return Math.max(1, Math.min(this.def.updateThreshold, Math.floor(this.samplesTrained / 2)));
  }

  /** Switches serving to a newer version trained by another replica. */
  async follow(version: string): Promise<void> {
    if (compareVersions(version, this.servingVersion.version) <= 0) return;
    const next = await this.loadVersion(version);
    if (compareVersions(next.version, this.servingVersion.version) > 0) this.servingVersion = next;
    this.bufferedHint = await this.buffer.buffered();
  }

  /** Follows the committed state when another replica moved it (a missed notification). */
  async refresh(): Promise<void> {
    const state = await this.buffer.state();
    if (state.version !== "") await this.follow(state.version);
    this.bufferedHint = await this.buffer.buffered();
    if (this.bufferedHint >= this.trainAt()) this.maybeTrain();
  }

  async status(): Promise<{
    buffered: number;
    currentVersion: string;
    samplesSeen: number;
    trainings: number;
    training: boolean;
    lastTraining?: TrainingRun;
  }> {
    const buffered = await this.buffer.buffered();
    const state = await this.buffer.state();
    this.bufferedHint = buffered;
    return {
      buffered,
      currentVersion: this.servingVersion.version,
      samplesSeen: Math.max(state.samplesTrained, this.samplesTrained) + buffered,
      trainings: this.trainingsDone,
      training: this.training,
      lastTraining: this.last,
    };
  }

  private maybeTrain(): void {
    if (this.closed) return;
    if (this.training) {
      this.again = true;
      return;
    }
    this.training = true;
    this.trainLoop().catch((err: unknown) => {
      this.training = false;
      this.deps.log.error({ err, model: this.def.name }, "learner loop failed");
      this.scheduleRetry();
    });
  }

  private async trainLoop(): Promise<void> {
    for (;;) {
      this.again = false;
      const buffered = await this.buffer.buffered();
      this.bufferedHint = buffered;
      if (this.closed || buffered < this.trainAt()) {
        if (this.again && !this.closed) continue;
        this.training = false; // set synchronously with the check above: no trigger is lost
        return;
      }
      const early = this.lastStart + this.def.minTrainIntervalMs - Date.now();
      if (early > 0) {
        this.training = false;
        this.wakeAfter(early);
        return;
      }
      const outcome = await inSpan("feedback.train", { root: true, attributes: { "openloop.feedback.model": this.def.name } }, async (span) => {
        const result = await this.trainOnce();
        span?.setAttribute("openloop.feedback.training_outcome", result);
        return result;
      });
      this.failures = outcome === "failed" ? this.failures + 1 : 0;
      if (outcome !== "trained") {
        this.training = false;
        if (outcome !== "empty") this.scheduleRetry();
        return;
      }
    }
  }

  // Retries back off (doubling up to a minute) while trainings keep failing.
  private scheduleRetry(): void {
    this.wakeAfter(Math.min(this.deps.options.retryDelayMs * 2 ** Math.max(0, this.failures - 1), Math.max(this.deps.options.retryDelayMs, 60_000)));
  }

  private wakeAfter(delay: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.maybeTrain();
    }, delay);
    this.retryTimer.unref();
  }

  private async trainOnce(): Promise<"trained" | "busy" | "failed" | "empty"> {
    const { lock, log, options } = this.deps;
    const name = this.def.name;
    const token = lock ? await lock.acquire(name) : "";
    if (token === undefined) return "busy";
    let lost = false;
    const renewal = lock
      ? setInterval(() => {
          lock.renew(name, token).then(
            (ok) => (lost ||= !ok),
            () => {},
          );
        }, Math.max(50, Math.floor(options.lockTtlMs / 3)))
      : undefined;
    renewal?.unref();
    const startTime = Date.now();
    this.lastStart = startTime;
    let taken: TakenSamples | undefined;
    let next: LinearModel | undefined;
    try {
      if (lock) await this.syncWithShared();
      taken = await this.buffer.take(options.maxTrainingSamples);
      if (!taken || taken.count < this.trainAt()) return "empty";
      const parent = this.servingVersion;
      // Reuse the previous serving model's memory: syncing it costs O(touched coordinates),
      // a fresh clone O(buckets). Nothing holds a serving model across an await.
      next = this.spare ?? new LinearModel(this.def.task, this.def.hp);
      this.spare = undefined;
      next.copyFrom(parent.model);
      for (let epoch = 0; epoch < this.def.hp.epochs; epoch++) await train(next, taken.blocks);
      const { before, after, samples } = evaluatePair(parent.model, next, taken.blocks, LINEAGE_EVAL_SAMPLES);
      const details = metricDetails(this.def.task, before, after, samples);
      if (taken.position) details[POSITION_DETAIL] = taken.position;
      const artifact = encodeArtifact(next);
      const version = await this.deps.versions.register({
        model: name,
        version: await this.buffer.reserveVersion(token),
        artifact,
        parentVersion: parent.version,
        samplesUsed: taken.count,
        details,
        description: `trained online from version ${parent.version} on ${taken.count} samples`,
      }, REGISTRY_TIMEOUT_MS);
      if (lost) throw new Error("lost the training lock before committing; the samples stay buffered");
      const committed = await this.buffer.commit(taken, { version, samplesTrained: this.samplesTrained + taken.count }, artifact, token);
      if (!committed) throw new Error("lost the training lock before committing; the samples stay buffered");
      this.samplesTrained += taken.count;
      this.servingVersion = { version, model: next };
      this.spare = parent.model;
      this.trainingsDone++;
      this.bufferedHint = Math.max(0, this.bufferedHint - taken.count);
      this.finish({ startTime, finishTime: Date.now(), succeeded: true, error: "", producedVersion: version, samplesUsed: taken.count, lossBefore: before.loss, lossAfter: after.loss });
      log.info({ model: name, version, parent: parent.version, samples: taken.count, lossBefore: before.loss, lossAfter: after.loss }, "trained and registered a new version");
      this.deps.onSwitch?.(name, version);
      this.prune();
      return "trained";
    } catch (err) {
      if (next) this.spare = next;
      const message = (err as Error).message;
      this.finish({ startTime, finishTime: Date.now(), succeeded: false, error: message, producedVersion: "", samplesUsed: taken?.count ?? 0, lossBefore: 0, lossAfter: 0 });
      log.warn({ err, model: name }, "training failed; samples stay buffered");
      return "failed";
    } finally {
      if (renewal) clearInterval(renewal);
      if (lock && token) await lock.release(name, token).catch(() => {});
    }
  }

  // Deletes the learner's versions beyond the newest maxVersions, except the serving one
  // and aliased ones, in the background: a failure only leaves more versions than asked.
  private prune(): void {
    if (this.def.maxVersions === 0 || this.pruning) return;
    this.pruning = this.pruneOnce()
      .catch((err: unknown) => this.deps.log.warn({ err, model: this.def.name }, "deleting old versions failed; they stay until the next training"))
      .finally(() => (this.pruning = undefined));
  }

  private async pruneOnce(): Promise<void> {
    const serving = this.servingVersion.version;
    let kept = 0;
    for (const v of await this.deps.versions.list(this.def.name, REGISTRY_TIMEOUT_MS)) {
      if (v.producer !== PRODUCER) continue;
      if (kept < this.def.maxVersions) {
        kept++;
        continue;
      }
      if (this.closed) return;
      if (v.version === serving || v.aliases.length > 0) continue;
      await this.deps.versions.delete(this.def.name, v.version, REGISTRY_TIMEOUT_MS);
    }
  }

  private finish(run: TrainingRun): void {
    this.last = run;
    this.deps.onTraining?.(this.def.name, run);
  }

  // Another replica may have trained since we last looked: train from the newest version.
  private async syncWithShared(): Promise<void> {
    const state = await this.buffer.state();
    this.samplesTrained = state.samplesTrained;
    if (state.version !== "" && state.version !== this.servingVersion.version) {
      this.servingVersion = await this.loadVersion(state.version);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Let a running training finish (its samples stay buffered if it cannot), but do not
    // hold shutdown hostage to a slow registry.
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while ((this.training || this.pruning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.buffer.close();
  }
}

interface BatchFigures {
  /** Mean squared error or mean log loss. */
  loss: number;
  /** Regression: mean absolute error. Classification: accuracy. */
  second: number;
}

/**
 * The figures of `before` and `after` on the same samples of the blocks, in one pass:
 * all of them when they are at most `limit`, else every k-th (k = ceil(count / limit),
 * starting with the first), which is at most `limit` samples spread over the whole batch.
 */
export function evaluatePair(before: LinearModel, after: LinearModel, blocks: readonly SampleBlock[], limit: number): { before: BatchFigures; after: BatchFigures; samples: number } {
  let count = 0;
  for (const b of blocks) count += b.count;
  const stride = count <= limit ? 1 : Math.ceil(count / limit);
  const task = before.task;
  let lossBefore = 0;
  let lossAfter = 0;
  let secondBefore = 0;
  let secondAfter = 0;
  let n = 0;
  // The position of the next sample to evaluate, within the current block.
  let i = 0;
  for (const b of blocks) {
    for (; i < b.count; i += stride) {
      const from = b.offsets[i]!;
      const nnz = b.offsets[i + 1]! - from;
      const y = b.labels[i]!;
      const p = before.predict(b.idx, b.val, nnz, from);
      const q = after.predict(b.idx, b.val, nnz, from);
      lossBefore += loss(task, p, y);
      lossAfter += loss(task, q, y);
      secondBefore += task === "regression" ? Math.abs(p - y) : (p >= 0.5 ? 1 : 0) === y ? 1 : 0;
      secondAfter += task === "regression" ? Math.abs(q - y) : (q >= 0.5 ? 1 : 0) === y ? 1 : 0;
      n++;
    }
    i -= b.count;
  }
  if (n === 0) return { before: { loss: 0, second: 0 }, after: { loss: 0, second: 0 }, samples: 0 };
  return { before: { loss: lossBefore / n, second: secondBefore / n }, after: { loss: lossAfter / n, second: secondAfter / n }, samples: n };
}

/** One pass of SGD over the blocks, in order, yielding to the event loop now and then. */
export async function train(model: LinearModel, blocks: readonly SampleBlock[]): Promise<void> {
  let sinceYield = 0;
  for (const b of blocks) {
    for (let i = 0; i < b.count; i++) {
      const from = b.offsets[i]!;
      model.update(b.idx, b.val, b.offsets[i + 1]! - from, b.labels[i]!, from);
      if (++sinceYield === TRAIN_SLICE) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
    }
  }
}

function metricDetails(task: Task, before: BatchFigures, after: BatchFigures, samples: number): Record<string, string> {
  const second = task === "regression" ? "mae" : "accuracy";
  const lossName = task === "regression" ? "mse" : "log_loss";
  return {
    "batch.loss": lossName,
    // How many of the batch's samples the figures below are on (see LINEAGE_EVAL_SAMPLES).
    "batch.evaluated_samples": String(samples),
    "batch.loss_before": String(before.loss),
    "batch.loss_after": String(after.loss),
    [`batch.${second}_before`]: String(before.second),
    [`batch.${second}_after`]: String(after.second),
  };
}
