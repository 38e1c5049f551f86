// Feature hashing: turns any map of typed feature values into a sparse vector of a
// fixed dimension without a schema (the "hashing trick" of Vowpal Wabbit).
//
// The hash is 32-bit FNV-1a over the UTF-8 bytes of a key, reduced modulo `buckets`.
// It is stable across processes, machines and releases: weights stored in an artifact
// stay meaningful for whoever loads them. Keys, per feature `name`:
//   double, int64           key "name"              value x (as it is)
//   bool                    key "name"              value 1 or 0
//   string                  key "name=<value>"      value 1
//   double / int64 list     key "name[<i>]"         value x_i

import { quote } from "../platform/errors.js";
//   bool list               key "name[<i>]"         value 1 or 0
//   string list             key "name=<value>"      value 1 per element
// The bias has its own index, `buckets` (one past the hashed range).
// Numeric zeros (and false) are entries with value 0: they add nothing to a dot product,
// but standardization counts them in a coordinate's mean and variance.
// A feature whose kind is unset counts as missing and contributes nothing.

/** The shape of openloop.feature.v1.FeatureValue as protoc-gen-es emits it (structurally). */
export type FeatureKind =
  | { case: "doubleValue"; value: number }
  | { case: "int64Value"; value: bigint }
  | { case: "stringValue"; value: string }
  | { case: "boolValue"; value: boolean }
  | { case: "doubleList"; value: { values: number[] } }
  | { case: "int64List"; value: { values: bigint[] } }
  | { case: "stringList"; value: { values: string[] } }
  | { case: "boolList"; value: { values: boolean[] } }
  | { case: undefined; value?: undefined };

export interface FeatureValueLike {
  kind: FeatureKind;
}

export type FeatureMap = { readonly [name: string]: FeatureValueLike };

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Continues an FNV-1a hash over the UTF-8 encoding of `s` (no allocation). */
export function fnv1aContinue(hash: number, s: string): number {
  let h = hash;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
        continue;
      }
    }
    // Lone surrogates encode as U+FFFD, like TextEncoder does.
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h;
}

/** 32-bit FNV-1a of the UTF-8 bytes of `s`, as an unsigned integer. */
export function fnv1a(s: string): number {
  return fnv1aContinue(FNV_OFFSET, s) >>> 0;
}

function byte(hash: number, b: number): number {
  return Math.imul(hash ^ b, FNV_PRIME);
}

function withIndex(hash: number, i: number): number {
  // "[<i>]" in decimal, without building a string.
  let h = byte(hash, 0x5b);
  if (i === 0) h = byte(h, 0x30);
  else {
    let div = 1;
    while (div * 10 <= i) div *= 10;
    for (; div >= 1; div = Math.floor(div / 10)) h = byte(h, 0x30 + (Math.floor(i / div) % 10));
  }
  return byte(h, 0x5d);
}

/** Why a feature map could not be turned into a vector. */
export class FeatureError extends Error {}

/**
 * A reusable sparse vector: `idx[0..nnz)` and `val[0..nnz)`. The last entry is always
 * the bias (index `buckets`, value 1). Grows as needed; reuse one per caller to avoid
 * allocating per sample.
 */
export class SparseVector {
  idx: Int32Array;
  val: Float64Array;
  nnz = 0;

  constructor(capacity = 64) {
    this.idx = new Int32Array(capacity);
    this.val = new Float64Array(capacity);
  }

  push(i: number, v: number): void {
    if (this.nnz === this.idx.length) {
      const idx = new Int32Array(this.idx.length * 2);
      idx.set(this.idx);
      const val = new Float64Array(this.val.length * 2);
      val.set(this.val);
      this.idx = idx;
      this.val = val;
    }
    this.idx[this.nnz] = i;
    this.val[this.nnz] = v;
    this.nnz++;
  }
}

/** Most entries one sample may produce (lists count per element); bounds memory per sample. */
export const MAX_ENTRIES_PER_SAMPLE = 65_536;

export function nonFiniteFeature(name: string, x: number): string {
  return `feature '${quote(name)}' is ${x}; numbers must be finite`;
}

/**
 * Hashes `features` into `out` (cleared first) for a model with `buckets` hashed
 * dimensions. Throws FeatureError for non-finite numbers or oversized samples.
 */
export function vectorize(features: FeatureMap, buckets: number, out: SparseVector): void {
  out.nnz = 0;
  for (const name in features) {
    const kind = features[name]!.kind;
    switch (kind.case) {
      case "doubleValue": {
        const x = kind.value;
        if (!Number.isFinite(x)) throw new FeatureError(nonFiniteFeature(name, x));
        out.push(bucket(fnv1aContinue(FNV_OFFSET, name), buckets), x);
        break;
      }
      case "int64Value":
        out.push(bucket(fnv1aContinue(FNV_OFFSET, name), buckets), Number(kind.value));
        break;
      case "boolValue":
        out.push(bucket(fnv1aContinue(FNV_OFFSET, name), buckets), kind.value ? 1 : 0);
        break;
      case "stringValue":
        out.push(bucket(fnv1aContinue(byte(fnv1aContinue(FNV_OFFSET, name), 0x3d), kind.value), buckets), 1);
        break;
      case "doubleList": {
        const base = fnv1aContinue(FNV_OFFSET, name);
        const values = kind.value.values;
        for (let i = 0; i < values.length; i++) {
          const x = values[i]!;
          if (!Number.isFinite(x)) throw new FeatureError(`feature '${quote(name)}'[${i}] is ${x}; numbers must be finite`);
          out.push(bucket(withIndex(base, i), buckets), x);
        }
        break;
      }
      case "int64List": {
        const base = fnv1aContinue(FNV_OFFSET, name);
        const values = kind.value.values;
        for (let i = 0; i < values.length; i++) out.push(bucket(withIndex(base, i), buckets), Number(values[i]!));
        break;
      }
      case "boolList": {
        const base = fnv1aContinue(FNV_OFFSET, name);
        const values = kind.value.values;
        for (let i = 0; i < values.length; i++) out.push(bucket(withIndex(base, i), buckets), values[i] ? 1 : 0);
        break;
      }
      case "stringList": {
        const base = byte(fnv1aContinue(FNV_OFFSET, name), 0x3d);
        for (const s of kind.value.values) out.push(bucket(fnv1aContinue(base, s), buckets), 1);
        break;
      }
      case undefined:
        break;
      default:
        throw new FeatureError(`feature '${quote(name)}' has an unsupported value kind`);
    }
    if (out.nnz > MAX_ENTRIES_PER_SAMPLE) {
      throw new FeatureError(`a sample may expand to at most ${MAX_ENTRIES_PER_SAMPLE} entries (list elements count one each)`);
    }
  }
  out.push(buckets, 1);
}

/** The coordinate of a key's hash: hash mod buckets. */
export function bucket(hash: number, buckets: number): number {
  // For a power of two (the default) its low bits: the same number, without the
  // floating-point remainder that % takes for hashes of 2^31 and more.
  return (buckets & (buckets - 1)) === 0 ? hash & (buckets - 1) : (hash >>> 0) % buckets;
}
