// The `linear` artifact registered for every online model version: weights and optimizer
// state, stored sparsely (only coordinates ever touched), so a version of a model with
// 2^18 buckets and 20 features is a few hundred bytes.
//
// Layout (little-endian):
//   bytes 0-7    magic "OLLINR01"
//   u32          header length H
//   H bytes      header, UTF-8 JSON: {"format":"openloop-linear","formatVersion":2,
//                "task","optimizer","learningRate","l2","buckets","epochs","hash":"fnv1a32",
//                "nnz","step","scaling","target":{"count","mean","m2"}}
//   pad          zero bytes up to a multiple of 8
//   f64[nnz]     weights
//   f64[nnz]     optimizer state 1 (AdaGrad: sum of squared gradients; Adam: first moment)
//   f64[nnz]     optimizer state 2 (Adam only: second moment)
//   f64[nnz] x3  scaling "standardize" only: values seen, running mean, sum of squared
//                deviations (Welford) of each coordinate; a coordinate with n >= 2 and
//                std = sqrt(m2 / n) > 0 enters the dot product as (x - mean) / std, else
//                as 0 (the bias as 1). A regression prediction is
//                target.mean + std(target) * (w · x'), std(target) = sqrt(m2 / count) when
//                count >= 2 and positive, else 1.
//   u32[nnz]     coordinate of each entry (the bias is coordinate `buckets`), ascending
// Feature hashing is described in hashing.ts; a reader needs nothing else to predict.
// Format version 1 (before scaling existed) has neither "scaling" nor "target" nor the
// three scaling arrays, and reads as scaling "none".
import { LinearModel, type Hyperparameters, type Scaling, type TargetStats, type Task } from "./linear.js";

const MAGIC = "OLLINR01";

export interface ArtifactHeader {
  format: "openloop-linear";
  formatVersion: 1 | 2;
  task: Task;
  optimizer: Hyperparameters["optimizer"];
  learningRate: number;
  l2: number;
  buckets: number;
  epochs: number;
  hash: "fnv1a32";
  nnz: number;
  step: number;
  /** Absent in format version 1: "none". */
  scaling?: Scaling;
  target?: TargetStats;
}

export class ArtifactError extends Error {}

export function encodeArtifact(model: LinearModel): Buffer {
  const { weights: w, state1, state2 } = model;
  const adam = model.hp.optimizer === "adam";
  const scaled = model.hp.scaling === "standardize";
  const coords = model.touched();
  const nnz = coords.length;
  const header: ArtifactHeader = {
    format: "openloop-linear",
    formatVersion: 2,
    task: model.task,
    optimizer: model.hp.optimizer,
    learningRate: model.hp.learningRate,
    l2: model.hp.l2,
    buckets: model.hp.buckets,
    epochs: model.hp.epochs,
    hash: "fnv1a32",
    nnz,
    step: model.step,
    scaling: model.hp.scaling ?? "none",
    target: { ...model.target },
  };
  const head = Buffer.from(JSON.stringify(header), "utf8");
  const start = align8(12 + head.length);
  const arrays = (adam ? 3 : 2) + (scaled ? 3 : 0);
  const size = start + nnz * 8 * arrays + nnz * 4;
  const ab = new ArrayBuffer(size);
  const out = Buffer.from(ab);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(head.length, 8);
  head.copy(out, 12);
  const fw = new Float64Array(ab, start, nnz);
  const f1 = new Float64Array(ab, start + nnz * 8, nnz);
  const f2 = adam ? new Float64Array(ab, start + nnz * 16, nnz) : undefined;
  const s0 = start + nnz * 8 * (adam ? 3 : 2);
  const fc = scaled ? new Float64Array(ab, s0, nnz) : undefined;
  const fm = scaled ? new Float64Array(ab, s0 + nnz * 8, nnz) : undefined;
  const fv = scaled ? new Float64Array(ab, s0 + nnz * 16, nnz) : undefined;
  const ix = new Uint32Array(ab, start + nnz * 8 * arrays, nnz);
  for (let k = 0; k < nnz; k++) {
    const j = coords[k]!;
    fw[k] = w[j]!;
    f1[k] = state1[j]!;
    if (f2) f2[k] = state2[j]!;
    if (fc) {
      fc[k] = model.count[j]!;
      fm![k] = model.mean[j]!;
      fv![k] = model.m2[j]!;
    }
    ix[k] = j;
  }
  return out;
}

export function decodeArtifact(bytes: Uint8Array): { header: ArtifactHeader; model: LinearModel } {
  if (bytes.length < 12 || Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString("latin1") !== MAGIC) {
    throw new ArtifactError("not an openloop linear artifact (bad magic)");
  }
  // Aligned private copy, so the typed views below are valid whatever `bytes` is.
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  const buf = Buffer.from(ab);
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) throw new ArtifactError("artifact header is cut short");
  let header: ArtifactHeader;
  try {
    header = JSON.parse(buf.toString("utf8", 12, 12 + hlen)) as ArtifactHeader;
  } catch {
    throw new ArtifactError("artifact header is not JSON");
  }
  if (header.format !== "openloop-linear" || (header.formatVersion !== 1 && header.formatVersion !== 2) || header.hash !== "fnv1a32") {
    throw new ArtifactError(`unsupported artifact format ${header.format}/${header.formatVersion}/${header.hash}`);
  }
  const { nnz, buckets } = header;
  const adam = header.optimizer === "adam";
  const scaling: Scaling = header.formatVersion === 1 ? "none" : (header.scaling ?? "none");
  if (scaling !== "none" && scaling !== "standardize") throw new ArtifactError(`unsupported scaling ${String(scaling)}`);
  const scaled = scaling === "standardize";
  const arrays = (adam ? 3 : 2) + (scaled ? 3 : 0);
  const start = align8(12 + hlen);
  if (!Number.isInteger(nnz) || !Number.isInteger(buckets) || buckets < 1 || start + nnz * (8 * arrays + 4) !== buf.length) {
    throw new ArtifactError("artifact size does not match its header");
  }
  const hp: Hyperparameters = {
    learningRate: header.learningRate,
    l2: header.l2,
    buckets,
    optimizer: header.optimizer,
    epochs: header.epochs,
    scaling,
  };
  const model = new LinearModel(header.task, hp);
  model.step = header.step;
  if (header.target) model.target = { count: header.target.count, mean: header.target.mean, m2: header.target.m2 };
  const fw = new Float64Array(ab, start, nnz);
  const f1 = new Float64Array(ab, start + nnz * 8, nnz);
  const f2 = adam ? new Float64Array(ab, start + nnz * 16, nnz) : undefined;
  const s0 = start + nnz * 8 * (adam ? 3 : 2);
  const fc = scaled ? new Float64Array(ab, s0, nnz) : undefined;
  const fm = scaled ? new Float64Array(ab, s0 + nnz * 8, nnz) : undefined;
  const fv = scaled ? new Float64Array(ab, s0 + nnz * 16, nnz) : undefined;
  const ix = new Uint32Array(ab, start + nnz * 8 * arrays, nnz);
  for (let k = 0; k < nnz; k++) {
    const j = ix[k]!;
    if (j > buckets) throw new ArtifactError(`artifact coordinate ${j} is outside ${buckets} buckets`);
    model.touch(j);
    model.weights[j] = fw[k]!;
    model.state1[j] = f1[k]!;
    if (f2) model.state2[j] = f2[k]!;
    if (fc) {
      model.count[j] = fc[k]!;
      model.mean[j] = fm![k]!;
      model.m2[j] = fv![k]!;
    }
  }
  return { header, model };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
