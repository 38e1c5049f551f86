// Synthetic data with known weights for the learner's tests and bench: 20 numeric
// features, a linear target (regression) or a logistic one (classification).
import { create } from "@bufbuild/protobuf";
import { FeatureValueSchema, type FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";

export const FEATURES = 20;
export const TRUE_WEIGHTS = Array.from({ length: FEATURES }, (_, i) => ((i % 5) - 2) * 0.5 + (i < 10 ? 0.25 : -0.25));
export const TRUE_BIAS = 1;
export const NOISE = 0.1;

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

export interface Row {
  x: number[];
  /** Regression target or 0/1 label. */
  y: number;
  /** The true model's output: the noiseless target, or P(y = 1). */
  truth: number;
}

/** The true model's margin (regression target without noise). */
export function trueMargin(x: number[]): number {
  let m = TRUE_BIAS;
  for (let i = 0; i < FEATURES; i++) m += TRUE_WEIGHTS[i]! * x[i]!;
  return m;
}

export function makeRows(task: "regression" | "classification", n: number, seed: number): Row[] {
  const u = rng(seed);
  const g = gaussian(u);
  const rows: Row[] = [];
  for (let r = 0; r < n; r++) {
    const x = Array.from({ length: FEATURES }, () => g());
    let m = TRUE_BIAS;
    for (let i = 0; i < FEATURES; i++) m += TRUE_WEIGHTS[i]! * x[i]!;
    if (task === "regression") rows.push({ x, y: m + NOISE * g(), truth: m });
    else {
      const p = 1 / (1 + Math.exp(-m));
      rows.push({ x, y: u() < p ? 1 : 0, truth: p });
    }
  }
  return rows;
}

export function featureMap(x: number[]): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  for (let i = 0; i < x.length; i++) out[`f${i}`] = create(FeatureValueSchema, { kind: { case: "doubleValue", value: x[i]! } });
  return out;
}

/** Regression: RMSE. Classification: accuracy and mean log loss. */
export function score(task: "regression" | "classification", rows: Row[], predict: (x: number[]) => number): { rmse: number; accuracy: number; logLoss: number } {
  let se = 0;
  let correct = 0;
  let ll = 0;
  for (const r of rows) {
    const p = predict(r.x);
    se += (p - r.y) ** 2;
    if (task === "classification") {
      correct += (p >= 0.5 ? 1 : 0) === r.y ? 1 : 0;
      const q = Math.min(1 - 1e-15, Math.max(1e-15, p));
      ll += r.y === 1 ? -Math.log(q) : -Math.log(1 - q);
    }
  }
  return { rmse: Math.sqrt(se / rows.length), accuracy: correct / rows.length, logLoss: ll / rows.length };
}
