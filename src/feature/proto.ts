// Maps between the contract's messages (openloop.feature.v1) and the plain domain types.
import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { DurationSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { FeatureSet, Transformer, Validator } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureDefinitionSchema, FeatureSetSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import type { FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeatureType as ProtoFeatureType, FeatureValueSchema } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import type { FeatureDefinition, FeatureSetDefinition, TransformerSpec, ValidatorSpec } from "./definition.js";
import type { FeatureType, Features, Value } from "./value.js";

const TYPE_FROM_PROTO: Record<number, FeatureType | undefined> = {
  [ProtoFeatureType.DOUBLE]: "double",
  [ProtoFeatureType.INT64]: "int64",
  [ProtoFeatureType.STRING]: "string",
  [ProtoFeatureType.BOOL]: "bool",
  [ProtoFeatureType.DOUBLE_LIST]: "double_list",
  [ProtoFeatureType.INT64_LIST]: "int64_list",
  [ProtoFeatureType.STRING_LIST]: "string_list",
  [ProtoFeatureType.BOOL_LIST]: "bool_list",
};

const TYPE_TO_PROTO: Record<FeatureType, ProtoFeatureType> = {
  double: ProtoFeatureType.DOUBLE,
  int64: ProtoFeatureType.INT64,
  string: ProtoFeatureType.STRING,
  bool: ProtoFeatureType.BOOL,
  double_list: ProtoFeatureType.DOUBLE_LIST,
  int64_list: ProtoFeatureType.INT64_LIST,
  string_list: ProtoFeatureType.STRING_LIST,
  bool_list: ProtoFeatureType.BOOL_LIST,
};

/** A proto value as a domain value; undefined when no kind is set (a missing value). */
export function valueFromProto(v: FeatureValue | undefined): Value | undefined {
  const k = v?.kind;
  switch (k?.case) {
    case "doubleValue":
      return { type: "double", value: k.value };
    case "int64Value":
      return { type: "int64", value: k.value };
    case "stringValue":
      return { type: "string", value: k.value };
    case "boolValue":
      return { type: "bool", value: k.value };
    case "doubleList":
      return { type: "double_list", value: k.value.values };
    case "int64List":
      return { type: "int64_list", value: k.value.values };
    case "stringList":
      return { type: "string_list", value: k.value.values };
    case "boolList":
      return { type: "bool_list", value: k.value.values };
    default:
      return undefined;
  }
}

const VALUE = "openloop.feature.v1.FeatureValue" as const;

// Messages are built as plain objects ($typeName plus every field): this is the
// hot path of every read, and `create()` would walk the descriptor for each value.
export function valueToProto(v: Value): FeatureValue {
  switch (v.type) {
    case "double":
      return { $typeName: VALUE, kind: { case: "doubleValue", value: v.value } };
    case "int64":
      return { $typeName: VALUE, kind: { case: "int64Value", value: v.value } };
    case "string":
      return { $typeName: VALUE, kind: { case: "stringValue", value: v.value } };
    case "bool":
      return { $typeName: VALUE, kind: { case: "boolValue", value: v.value } };
    case "double_list":
      return { $typeName: VALUE, kind: { case: "doubleList", value: { $typeName: "openloop.feature.v1.DoubleList", values: v.value as number[] } } };
    case "int64_list":
      return { $typeName: VALUE, kind: { case: "int64List", value: { $typeName: "openloop.feature.v1.Int64List", values: v.value as bigint[] } } };
    case "string_list":
      return { $typeName: VALUE, kind: { case: "stringList", value: { $typeName: "openloop.feature.v1.StringList", values: v.value as string[] } } };
    case "bool_list":
      return { $typeName: VALUE, kind: { case: "boolList", value: { $typeName: "openloop.feature.v1.BoolList", values: v.value as boolean[] } } };
  }
}

/** Request features as domain features; entries without a kind are missing values and are left out. */
export function featuresFromProto(map: { [name: string]: FeatureValue }): Features {
  const out: Features = new Map();
  for (const name of Object.keys(map)) {
    const v = valueFromProto(map[name]);
    if (v !== undefined) out.set(name, v);
  }
  return out;
}

/** Domain features as a proto map, optionally only the named ones. */
export function featuresToProto(features: Features, only?: ReadonlySet<string>): { [name: string]: FeatureValue } {
  const out: { [name: string]: FeatureValue } = {};
  for (const [name, v] of features) {
    if (only === undefined || only.has(name)) out[name] = valueToProto(v);
  }
  return out;
}

/** The Redis value of one entity: StoredFeatures in protobuf binary (read back by stored-decode.ts). */
export function encodeStored(features: Features): Uint8Array {
  return toBinary(StoredFeaturesSchema, { $typeName: "openloop.feature.v1.StoredFeatures", features: featuresToProto(features) });
}

export function durationToMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6);
}

export function msToDuration(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
}

export function definitionFromProto(set: FeatureSet): FeatureSetDefinition {
  return {
    name: set.name,
    description: set.description,
    defaultTtlMs: set.defaultTtl === undefined ? undefined : durationToMs(set.defaultTtl),
    features: set.features.map(
      (f): FeatureDefinition => ({
        name: f.name,
        type: TYPE_FROM_PROTO[f.type],
        required: f.required,
        defaultValue: valueFromProto(f.defaultValue),
        validators: f.validators.map(validatorFromProto),
        transformers: f.transformers.map(transformerFromProto),
        allowNonFinite: f.allowNonFinite,
        description: f.description,
      }),
    ),
  };
}

function validatorFromProto(v: Validator): ValidatorSpec {
  const k = v.kind;
  switch (k.case) {
    case "range":
      return { kind: "range", min: k.value.min, max: k.value.max };
    case "allowedValues":
      return { kind: "allowedValues", values: k.value.values.map(valueFromProto) };
    case "pattern":
      return { kind: "pattern", regex: k.value.regex };
    case "listLength":
      return { kind: "listLength", min: k.value.min, max: k.value.max };
    default:
      return { kind: "unset" };
  }
}

function transformerFromProto(t: Transformer): TransformerSpec {
  const k = t.kind;
  switch (k.case) {
    case "standardize":
      return { kind: "standardize", mean: k.value.mean, std: k.value.std };
    case "minMaxScale":
      return { kind: "minMaxScale", min: k.value.min, max: k.value.max };
    case "log1p":
      return { kind: "log1p" };
    case "clip":
      return { kind: "clip", min: k.value.min, max: k.value.max };
    case "bucketize":
      return { kind: "bucketize", boundaries: k.value.boundaries };
    case "oneHot":
      return { kind: "oneHot", vocabulary: k.value.vocabulary, unknownSlot: k.value.unknownSlot };
    case "hashBucket":
      return { kind: "hashBucket", numBuckets: k.value.numBuckets };
    case "fillMissing":
      return { kind: "fillMissing", value: valueFromProto(k.value.value) };
    case "embed":
      return { kind: "embed", model: k.value.model, dimensions: k.value.dimensions };
    default:
      return { kind: "unset" };
  }
}

type ValueInit = MessageInitShape<typeof FeatureValueSchema>;

function optionalValueToProto(v: Value | undefined): ValueInit | undefined {
  return v === undefined ? undefined : valueToProto(v);
}

export function definitionToProto(def: FeatureSetDefinition, createTime: Date): FeatureSet {
  return create(FeatureSetSchema, {
    name: def.name,
    description: def.description,
    defaultTtl: def.defaultTtlMs === undefined ? undefined : msToDuration(def.defaultTtlMs),
    createTime: timestampFromMs(createTime.getTime()) as Timestamp,
    features: def.features.map((f) =>
      create(FeatureDefinitionSchema, {
        name: f.name,
        type: f.type === undefined ? ProtoFeatureType.UNSPECIFIED : TYPE_TO_PROTO[f.type],
        required: f.required,
        defaultValue: optionalValueToProto(f.defaultValue),
        allowNonFinite: f.allowNonFinite,
        description: f.description,
        validators: f.validators.map((v) => ({ kind: validatorKindToProto(v) })),
        transformers: f.transformers.map((t) => ({ kind: transformerKindToProto(t) })),
      }),
    ),
  });
}

function validatorKindToProto(v: ValidatorSpec): NonNullable<MessageInitShape<typeof FeatureDefinitionSchema>["validators"]>[number]["kind"] {
  switch (v.kind) {
    case "range":
      return { case: "range", value: { min: v.min, max: v.max } };
    case "allowedValues":
      return { case: "allowedValues", value: { values: v.values.map((x) => optionalValueToProto(x) ?? {}) } };
    case "pattern":
      return { case: "pattern", value: { regex: v.regex } };
    case "listLength":
      return { case: "listLength", value: { min: v.min, max: v.max } };
    case "unset":
      return { case: undefined };
  }
}

function transformerKindToProto(t: TransformerSpec): NonNullable<MessageInitShape<typeof FeatureDefinitionSchema>["transformers"]>[number]["kind"] {
  switch (t.kind) {
    case "standardize":
      return { case: "standardize", value: { mean: t.mean, std: t.std } };
    case "minMaxScale":
      return { case: "minMaxScale", value: { min: t.min, max: t.max } };
    case "log1p":
      return { case: "log1p", value: {} };
    case "clip":
      return { case: "clip", value: { min: t.min, max: t.max } };
    case "bucketize":
      return { case: "bucketize", value: { boundaries: [...t.boundaries] } };
    case "oneHot":
      return { case: "oneHot", value: { vocabulary: [...t.vocabulary], unknownSlot: t.unknownSlot } };
    case "hashBucket":
      return { case: "hashBucket", value: { numBuckets: t.numBuckets } };
    case "fillMissing":
      return { case: "fillMissing", value: { value: optionalValueToProto(t.value) } };
    case "embed":
      return { case: "embed", value: { model: t.model, dimensions: t.dimensions } };
    case "unset":
      return { case: undefined };
  }
}
