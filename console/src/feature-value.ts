// Typed feature values (openloop.feature.v1.FeatureValue) to and from text people type.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FeatureType, FeatureValueSchema, type FeatureValue } from "../../clients/typescript/src/gen/openloop/feature/v1/feature_value_pb.js";

/** Parses typed text as a value of `type`; lists are comma-separated. Throws with a message for people. */
export function parseFeatureValue(type: FeatureType, text: string): FeatureValue {
  const t = text.trim();
  const items = () => (t === "" ? [] : t.split(",").map((s) => s.trim()));
  let kind: MessageInitShape<typeof FeatureValueSchema>["kind"];
  switch (type) {
    case FeatureType.DOUBLE:
      kind = { case: "doubleValue", value: parseDouble(t) };
      break;
    case FeatureType.INT64:
      kind = { case: "int64Value", value: parseInt64(t) };
      break;
    case FeatureType.STRING:
      kind = { case: "stringValue", value: text };
      break;
    case FeatureType.BOOL:
      kind = { case: "boolValue", value: parseBool(t) };
      break;
    case FeatureType.DOUBLE_LIST:
      kind = { case: "doubleList", value: { values: items().map(parseDouble) } };
      break;
    case FeatureType.INT64_LIST:
      kind = { case: "int64List", value: { values: items().map(parseInt64) } };
      break;
    case FeatureType.STRING_LIST:
      kind = { case: "stringList", value: { values: items() } };
      break;
    case FeatureType.BOOL_LIST:
      kind = { case: "boolList", value: { values: items().map(parseBool) } };
      break;
    default:
      throw new Error("the feature has no declared type");
  }
  return create(FeatureValueSchema, { kind });
}

function parseDouble(s: string): number {
  // NaN and infinities are typed as words; the server decides whether the feature allows them.
  if (/^[+-]?(nan|inf|infinity)$/i.test(s)) return s.toLowerCase().includes("nan") ? NaN : s.startsWith("-") ? -Infinity : Infinity;
  if (s === "" || !Number.isFinite(Number(s))) throw new Error(`'${s}' is not a number`);
  return Number(s);
}

function parseInt64(s: string): bigint {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`'${s}' is not an integer`);
  const v = BigInt(s);
  if (v > 2n ** 63n - 1n || v < -(2n ** 63n)) throw new Error(`'${s}' does not fit in 64 bits`);
  return v;
}

function parseBool(s: string): boolean {
  if (/^(true|yes|1)$/i.test(s)) return true;
  if (/^(false|no|0)$/i.test(s)) return false;
  throw new Error(`'${s}' is not true or false`);
}

/** A value as text, lists in brackets; an unset value is "missing". */
export function formatFeatureValue(v: FeatureValue | undefined): string {
  const k = v?.kind;
  switch (k?.case) {
    case "doubleValue":
    case "int64Value":
      return String(k.value);
    case "stringValue":
      return JSON.stringify(k.value);
    case "boolValue":
      return String(k.value);
    case "doubleList":
    case "int64List":
    case "boolList":
      return `[${k.value.values.map(String).join(", ")}]`;
    case "stringList":
      return `[${k.value.values.map((s) => JSON.stringify(s)).join(", ")}]`;
    default:
      return "missing";
  }
}

/** The type a value has: "double", "string_list"... */
export function featureValueType(v: FeatureValue | undefined): string {
  const names: Record<string, string> = {
    doubleValue: "double",
    int64Value: "int64",
    stringValue: "string",
    boolValue: "bool",
    doubleList: "double list",
    int64List: "int64 list",
    stringList: "string list",
    boolList: "bool list",
  };
  return names[v?.kind.case ?? ""] ?? "missing";
}
