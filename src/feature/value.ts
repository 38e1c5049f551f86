// Typed feature values in plain TypeScript (the service maps them to and from
// openloop.feature.v1.FeatureValue at the edge).

import { quote } from "../platform/errors.js";

export const FEATURE_TYPES = ["double", "int64", "string", "bool", "double_list", "int64_list", "string_list", "bool_list"] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];
export type ScalarType = "double" | "int64" | "string" | "bool";
export type ListType = "double_list" | "int64_list" | "string_list" | "bool_list";
export type NumericType = "double" | "int64" | "double_list" | "int64_list";

export type Value =
  | { readonly type: "double"; readonly value: number }
  | { readonly type: "int64"; readonly value: bigint }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "double_list"; readonly value: readonly number[] }
  | { readonly type: "int64_list"; readonly value: readonly bigint[] }
  | { readonly type: "string_list"; readonly value: readonly string[] }
  | { readonly type: "bool_list"; readonly value: readonly boolean[] };

/** One element of a list, or a scalar value. */
export type Scalar = number | bigint | string | boolean;

/** Features of one entity by name. */
export type Features = Map<string, Value>;

export function isListType(t: FeatureType): t is ListType {
  return t.endsWith("_list");
}

export function isNumericType(t: FeatureType): t is NumericType {
  return t === "double" || t === "int64" || t === "double_list" || t === "int64_list";
}

export function elementType(t: FeatureType): ScalarType {
  return (isListType(t) ? t.slice(0, -"_list".length) : t) as ScalarType;
}

export function listTypeOf(t: ScalarType): ListType {
  return `${t}_list` as ListType;
}

/** The elements of a value: the list itself, or a one-element array for a scalar. */
export function elements(v: Value): readonly Scalar[] {
  return isListType(v.type) ? (v.value as readonly Scalar[]) : [v.value as Scalar];
}

/** Builds a value of type `t` from elements (a scalar type takes the first element). */
export function fromElements(t: FeatureType, items: readonly Scalar[]): Value {
  return (isListType(t) ? { type: t, value: items } : { type: t, value: items[0] }) as Value;
}

/** True when a double (or any element of a double list) is NaN or infinite. */
export function hasNonFinite(v: Value): boolean {
  if (v.type === "double") return !Number.isFinite(v.value);
  if (v.type === "double_list") {
    for (const x of v.value) if (!Number.isFinite(x)) return true;
  }
  return false;
}

/** Short text for error messages: long strings and lists are cut. */
export function formatScalar(x: Scalar): string {
  if (typeof x === "string") return JSON.stringify(quote(x));
  return String(x);
}

export function formatValue(v: Value): string {
  if (!isListType(v.type)) return formatScalar(v.value as Scalar);
  const items = v.value as readonly Scalar[];
  const shown = items.slice(0, 5).map(formatScalar).join(", ");
  return `[${shown}${items.length > 5 ? `, … (${items.length} elements)` : ""}]`;
}

/** Deep equality of two values (NaN equals NaN, so a stored NaN round-trips as equal). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a.type !== b.type) return false;
  const xs = elements(a);
  const ys = elements(b);
  if (xs.length !== ys.length) return false;
  for (let i = 0; i < xs.length; i++) if (!Object.is(xs[i], ys[i]) && xs[i] !== ys[i]) return false;
  return true;
}
