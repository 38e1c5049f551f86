// Online linear models over hashed sparse vectors: linear regression (squared loss) and
// logistic regression (log loss), trained by per-coordinate adaptive SGD (AdaGrad or Adam)
// with L2 regularisation applied lazily to the coordinates a sample touches.
//
// With `scaling: "standardize"` (the default of new models) learning is invariant to the
// scale of each feature and of the target: every hashed coordinate keeps a running mean
// and variance (Welford) of the values it received and the model learns on
// (x - mean) / std; a regression target is standardized the same way and predictions
// are mapped back. The statistics are part of the version, so it predicts identically
// wherever it is loaded.

export type Task = "regression" | "classification";
export type OptimizerKind = "adagrad" | "adam";
export type Scaling = "none" | "standardize";

export interface Hyperparameters {
  /** Base step size. */
  learningRate: number;
  /** L2 penalty on the weights (not the bias). */
  l2: number;
  /** Hashed dimensions; the bias lives at index `buckets`. */
  buckets: number;
  optimizer: OptimizerKind;
  /** Passes over each training batch. */
  epochs: number;
  /** Online standardization of features and regression targets; "none" (or absent) learns on raw values. */
  scaling?: Scaling;
}

/** Running count, mean and sum of squared deviations of a regression target (Welford). */
export interface TargetStats {
  count: number;
  mean: number;
  m2: number;
}

const ADAGRAD_EPS = 1e-8;
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPS = 1e-8;
// Keeps log loss finite for confident wrong predictions.
const PROB_EPS = 1e-15;

/**
 * Weights and optimizer state of one model version. Dense in memory, sparse on disk:
 * the coordinates an update ever touched are tracked, so serialization and copying
 * cost O(touched), not O(buckets).
 */
export class LinearModel {
  readonly weights: Float64Array;
  /** AdaGrad: sum of squared gradients. Adam: first moment. */
  readonly state1: Float64Array;
  /** Adam only: second moment (empty for AdaGrad). */
  readonly state2: Float64Array;
  /** Adam step counter (bias correction). */
  step = 0;
  /** Standardization only: values seen, running mean and sum of squared deviations per coordinate (empty otherwise). */
  readonly count: Float64Array;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  /** Standardization of regression targets. */
  target: TargetStats = { count: 0, mean: 0, m2: 0 };
  private readonly mark: Uint8Array;
  private list: Int32Array = new Int32Array(64);
  private listed = 0;

  constructor(
    readonly task: Task,
    readonly hp: Hyperparameters,
  ) {
    const dim = hp.buckets + 1;
    const scaled = hp.scaling === "standardize" ? dim : 0;
    this.weights = new Float64Array(dim);
    this.state1 = new Float64Array(dim);
    this.state2 = new Float64Array(hp.optimizer === "adam" ? dim : 0);
    this.count = new Float64Array(scaled);
    this.mean = new Float64Array(scaled);
    this.m2 = new Float64Array(scaled);
    this.mark = new Uint8Array(dim);
  }

  /** Records that coordinate `j` holds state (idempotent). */
  touch(j: number): void {
    if (this.mark[j] === 1) return;
    this.mark[j] = 1;
    if (this.listed === this.list.length) {
      const next = new Int32Array(this.list.length * 2);
      next.set(this.list);
      this.list = next;
    }
    this.list[this.listed++] = j;
  }

  /** Coordinates that hold state, ascending. */
  touched(): Int32Array {
    return this.list.slice(0, this.listed).sort();
  }

  /** An independent copy, so training never touches the version being served. */
  clone(): LinearModel {
    const c = new LinearModel(this.task, this.hp);
    c.copyFrom(this);
    return c;
  }

  /**
   * Makes this model equal to `other` (same task and buckets) by copying only the
   * coordinates either one touched: cheap reuse of a spare model for the next training.
   */
  copyFrom(other: LinearModel): void {
    for (let k = 0; k < this.listed; k++) this.copyCoordinate(other, this.list[k]!);
    for (let k = 0; k < other.listed; k++) {
      const j = other.list[k]!;
      this.touch(j);
      this.copyCoordinate(other, j);
    }
    this.step = other.step;
    this.target = { ...other.target };
  }

  private copyCoordinate(other: LinearModel, j: number): void {
    this.weights[j] = other.weights[j]!;
    this.state1[j] = other.state1[j]!;
    if (this.state2.length > 0) this.state2[j] = other.state2[j]!;
    if (this.count.length > 0) {
      this.count[j] = other.count[j]!;
      this.mean[j] = other.mean[j]!;
      this.m2[j] = other.m2[j]!;
    }
  }

  /** Value `x` of coordinate `j` as the weights see it: standardized, or raw. */
  private scaled(j: number, x: number): number {
    if (this.count.length === 0 || j === this.hp.buckets) return x;
    const n = this.count[j]!;
    if (n < 2) return 0;
    const sd = Math.sqrt(this.m2[j]! / n);
    return sd > 0 ? (x - this.mean[j]!) / sd : 0;
  }

  /** Mean and standard deviation of the regression target (0 and 1 until known). */
  private targetScale(): { mean: number; sd: number } {
    if (this.count.length === 0 || this.task !== "regression") return { mean: 0, sd: 1 };
    const t = this.target;
    const sd = t.count >= 2 ? Math.sqrt(t.m2 / t.count) : 0;
    return { mean: t.mean, sd: sd > 0 ? sd : 1 };
  }

  /** The score w·x over (scaled) values; the bias is the vector's last entry. */
  margin(idx: Int32Array, val: Float64Array, nnz: number, offset = 0): number {
    const w = this.weights;
    let s = 0;
    if (this.count.length === 0) {
      for (let k = offset; k < offset + nnz; k++) s += w[idx[k]!]! * val[k]!;
    } else {
      for (let k = offset; k < offset + nnz; k++) {
        const j = idx[k]!;
        s += w[j]! * this.scaled(j, val[k]!);
      }
    }
    return s;
  }

  /** The prediction: a number for regression, P(label = 1) for classification. */
  predict(idx: Int32Array, val: Float64Array, nnz: number, offset = 0): number {
    const m = this.margin(idx, val, nnz, offset);
    if (this.task === "classification") return sigmoid(m);
    const { mean, sd } = this.targetScale();
    return mean + sd * m;
  }

  // Folds one sample into the running statistics of its coordinates and, for regression,
  // of the target; returns the label in the units the weights learn.
  private observe(idx: Int32Array, val: Float64Array, nnz: number, label: number, offset: number): number {
    const bias = this.hp.buckets;
    for (let k = offset; k < offset + nnz; k++) {
      const j = idx[k]!;
      if (j === bias) continue;
      if (this.mark[j] === 0) this.touch(j);
      const x = val[k]!;
      const n = this.count[j]! + 1;
      const d = x - this.mean[j]!;
      const mean = this.mean[j]! + d / n;
      this.count[j] = n;
      this.mean[j] = mean;
      this.m2[j] = this.m2[j]! + d * (x - mean);
    }
    if (this.task === "classification") return label;
    const t = this.target;
    t.count++;
    const d = label - t.mean;
    t.mean += d / t.count;
    t.m2 += d * (label - t.mean);
    const { mean, sd } = this.targetScale();
    return (label - mean) / sd;
  }

  /**
   * One SGD step on one sample. Both losses have the gradient (prediction - label) * x
   * with respect to the weights.
   */
  update(idx: Int32Array, val: Float64Array, nnz: number, label: number, offset = 0): void {
    const scaling = this.count.length > 0;
    // Standardized, the gradient comes from the sample's values after its own statistics
    // are folded in (computed once, below); raw, from the prediction as it stands.
    let g = scaling ? 0 : this.predict(idx, val, nnz, offset) - label;
    let xs = val;
    let at = offset;
    if (scaling) {
      const y = this.observe(idx, val, nnz, label, offset);
      if (scratch.length < nnz) scratch = new Float64Array(Math.max(nnz, scratch.length * 2));
      xs = scratch;
      at = 0;
      let m = 0;
      for (let k = 0; k < nnz; k++) {
        const j = idx[offset + k]!;
        const x = this.scaled(j, val[offset + k]!);
        xs[k] = x;
        m += this.weights[j]! * x;
      }
      g = (this.task === "regression" ? m : sigmoid(m)) - y;
    }
    const w = this.weights;
    const s1 = this.state1;
    const lr = this.hp.learningRate;
    const l2 = this.hp.l2;
    const bias = this.hp.buckets;
    if (this.hp.optimizer === "adagrad") {
      for (let k = offset; k < offset + nnz; k++) {
        const j = idx[k]!;
        const x = xs[k - offset + at]!;
        if (x === 0 && !scaling) continue;
        if (this.mark[j] === 0) this.touch(j);
        const grad = g * x + (j === bias ? 0 : l2 * w[j]!);
        const acc = s1[j]! + grad * grad;
        s1[j] = acc;
        w[j] = w[j]! - (lr * grad) / (Math.sqrt(acc) + ADAGRAD_EPS);
      }
    } else {
      const s2 = this.state2;
      this.step++;
      const c1 = 1 - Math.pow(ADAM_BETA1, this.step);
      const c2 = 1 - Math.pow(ADAM_BETA2, this.step);
      for (let k = offset; k < offset + nnz; k++) {
        const j = idx[k]!;
        const x = xs[k - offset + at]!;
        if (x === 0 && !scaling) continue;
        if (this.mark[j] === 0) this.touch(j);
        const grad = g * x + (j === bias ? 0 : l2 * w[j]!);
        const m = ADAM_BETA1 * s1[j]! + (1 - ADAM_BETA1) * grad;
        const v = ADAM_BETA2 * s2[j]! + (1 - ADAM_BETA2) * grad * grad;
        s1[j] = m;
        s2[j] = v;
        w[j] = w[j]! - (lr * (m / c1)) / (Math.sqrt(v / c2) + ADAM_EPS);
      }
    }
  }
}

// Scaled values of the sample being trained (one model trains at a time per call).
let scratch = new Float64Array(64);

export function sigmoid(m: number): number {
  if (m >= 0) return 1 / (1 + Math.exp(-m));
  const e = Math.exp(m);
  return e / (1 + e);
}

/** Squared error (regression) or log loss (classification) of one prediction. */
export function loss(task: Task, prediction: number, label: number): number {
  if (task === "regression") {
    const d = prediction - label;
    return d * d;
  }
  const p = Math.min(1 - PROB_EPS, Math.max(PROB_EPS, prediction));
  return label === 1 ? -Math.log(p) : -Math.log(1 - p);
}

/**
 * The error SubmitFeedback compares with the model's threshold: the absolute difference
 * for regression, 0/1 mismatch of the predicted label (p >= 0.5) for classification.
 */
export function feedbackError(task: Task, prediction: number, actual: number): number {
  if (task === "regression") return Math.abs(prediction - actual);
  return (prediction >= 0.5 ? 1 : 0) === actual ? 0 : 1;
}
