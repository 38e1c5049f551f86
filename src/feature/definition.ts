// Feature-set definitions as plain data: what a set declares, before it is checked and compiled.
import type { FeatureType, Scalar, Value } from "./value.js";

export interface FeatureSetDefinition {
  readonly name: string;
  readonly description: string;
  readonly features: readonly FeatureDefinition[];
  /** TTL of stored values when a put gives none; undefined means one hour, 0 means no expiry. */
  readonly defaultTtlMs: number | undefined;
}

export interface FeatureDefinition {
  readonly name: string;
  /** undefined when the definition left it unset (a problem reported at compile time). */
  readonly type: FeatureType | undefined;
  readonly required: boolean;
  readonly defaultValue: Value | undefined;
  readonly validators: readonly ValidatorSpec[];
  readonly transformers: readonly TransformerSpec[];
  readonly allowNonFinite: boolean;
  readonly description: string;
}

/** `unset` stands for a validator or transformer whose kind the sender did not set (or we do not know). */
export type ValidatorSpec =
  | { readonly kind: "range"; readonly min?: number; readonly max?: number }
  | { readonly kind: "allowedValues"; readonly values: readonly (Value | undefined)[] }
  | { readonly kind: "pattern"; readonly regex: string }
  | { readonly kind: "listLength"; readonly min?: number; readonly max?: number }
  | { readonly kind: "unset" };

export type TransformerSpec =
  | { readonly kind: "standardize"; readonly mean: number; readonly std: number }
  | { readonly kind: "minMaxScale"; readonly min: number; readonly max: number }
  | { readonly kind: "log1p" }
  | { readonly kind: "clip"; readonly min?: number; readonly max?: number }
  | { readonly kind: "bucketize"; readonly boundaries: readonly number[] }
  | { readonly kind: "oneHot"; readonly vocabulary: readonly string[]; readonly unknownSlot: boolean }
  | { readonly kind: "hashBucket"; readonly numBuckets: number }
  | { readonly kind: "fillMissing"; readonly value: Value | undefined }
  | { readonly kind: "embed"; readonly model: string; readonly dimensions?: number }
  | { readonly kind: "unset" };

export type { Scalar };

/** Set names become file names and Redis key parts: 1-64 of [a-z0-9_-], starting with a letter or digit. */
export const SET_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Feature names: 1-64 of [A-Za-z0-9_.-]. */
export const FEATURE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export const DEFAULT_TTL_MS = 60 * 60 * 1000;
/** Longest TTL accepted (about 100 years): beyond it Redis refuses the expiry and milliseconds lose precision. */
export const MAX_TTL_MS = 100 * 365 * 24 * 60 * 60 * 1000;
