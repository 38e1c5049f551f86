// FeatureValue (the shared typed feature value) <-> JSON variables of a run.
import { create } from "@bufbuild/protobuf";
import { FeatureValueSchema, type FeatureValue } from "../../../gen/openloop/feature/v1/feature_value_pb.js";
import type { JsonValue } from "../types.js";

/** int64 values within 2^53 become numbers; larger ones become decimal strings, never rounded. */
function int64ToJson(v: bigint): JsonValue {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function finite(v: number): JsonValue {
  // JSON has no NaN or infinities; a template shows them as the strings JavaScript uses.
  return Number.isFinite(v) ? v : String(v);
}

export function featureValueToJson(value: FeatureValue | undefined): JsonValue {
  const kind = value?.kind;
  switch (kind?.case) {
    case "doubleValue":
      return finite(kind.value);
    case "int64Value":
      return int64ToJson(kind.value);
    case "stringValue":
    case "boolValue":
      return kind.value;
    case "doubleList":
      return kind.value.values.map(finite);
    case "int64List":
      return kind.value.values.map(int64ToJson);
    case "stringList":
    case "boolList":
      return [...kind.value.values];
    default:
      return null;
  }
}

/**
 * A JSON variable as a FeatureValue. Numbers (and lists of numbers) become doubles unless the step
 * says int64, where whole numbers and decimal strings are taken; null is a missing value. Returns
 * an error message for values no FeatureValue can hold.
 */
export function jsonToFeatureValue(value: JsonValue, kind?: "int64"): FeatureValue | string {
  if (value === null) return create(FeatureValueSchema, {});
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) return create(FeatureValueSchema, { kind: { case: "stringList", value: { values: value as string[] } } });
    if (value.every((v) => typeof v === "boolean")) return create(FeatureValueSchema, { kind: { case: "boolList", value: { values: value as boolean[] } } });
    if (value.every((v) => typeof v === "number")) {
      if (kind === "int64") {
        if (!value.every((v) => Number.isSafeInteger(v))) return "an int64 list holds only whole numbers";
        return create(FeatureValueSchema, { kind: { case: "int64List", value: { values: (value as number[]).map(BigInt) } } });
      }
      return create(FeatureValueSchema, { kind: { case: "doubleList", value: { values: value as number[] } } });
    }
    return "a list feature holds only strings, only booleans or only numbers";
  }
  switch (typeof value) {
    case "string":
      if (kind === "int64" && /^-?\d{1,19}$/.test(value) && BigInt.asIntN(64, BigInt(value)) === BigInt(value)) {
        return create(FeatureValueSchema, { kind: { case: "int64Value", value: BigInt(value) } });
      }
      return create(FeatureValueSchema, { kind: { case: "stringValue", value } });
    case "boolean":
      return create(FeatureValueSchema, { kind: { case: "boolValue", value } });
    case "number":
      if (kind === "int64") {
        if (!Number.isSafeInteger(value)) return `an int64 feature must be a whole number, got ${value}`;
        return create(FeatureValueSchema, { kind: { case: "int64Value", value: BigInt(value) } });
      }
      return create(FeatureValueSchema, { kind: { case: "doubleValue", value } });
    default:
      return "an object cannot be a feature value";
  }
}
