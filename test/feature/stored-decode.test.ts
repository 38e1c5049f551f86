// The hand-written StoredFeatures decoder agrees with the reflective protobuf decoder.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { expect, test } from "vitest";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import { encodeStored, featuresFromProto } from "../../src/feature/proto.js";
import { decodeStoredFeatures } from "../../src/feature/stored-decode.js";
import type { Features } from "../../src/feature/value.js";

const reflective = (bytes: Uint8Array) => featuresFromProto(fromBinary(StoredFeaturesSchema, bytes).features);

test("decodes every type, with edge values, exactly as the reflective decoder", () => {
  const features: Features = new Map([
    ["d", { type: "double", value: -0 }],
    ["nan", { type: "double", value: Number.NaN }],
    ["inf", { type: "double", value: Number.NEGATIVE_INFINITY }],
    ["i", { type: "int64", value: -(2n ** 63n) }],
    ["s", { type: "string", value: "ünï 😀 \u0000" }],
    ["empty", { type: "string", value: "" }],
    ["b", { type: "bool", value: false }],
    ["dl", { type: "double_list", value: [1.5, -2, 1e308, 5e-324] }],
    ["il", { type: "int64_list", value: [2n ** 63n - 1n, 0n, -1n] }],
    ["sl", { type: "string_list", value: ["", "a", "😀"] }],
    ["bl", { type: "bool_list", value: [true, false] }],
    ["none", { type: "double_list", value: [] }],
  ]);
  const bytes = encodeStored(features);
  const fast = decodeStoredFeatures(bytes);
  expect(fast).toEqual(reflective(bytes));
  expect(Object.is((fast.get("d")!.value as number), -0)).toBe(true);
  expect([...fast.keys()].sort()).toEqual([...features.keys()].sort());
});

test("reads unpacked repeated fields and skips unknown fields, as protobuf parsers must", () => {
  const value = new BinaryWriter();
  // FeatureValue { double_list: DoubleList { values: 1.5 (unpacked), 2.5 (unpacked) } } plus an unknown field 99.
  const list = new BinaryWriter().tag(1, WireType.Bit64).double(1.5).tag(1, WireType.Bit64).double(2.5).tag(7, WireType.Varint).uint32(3).finish();
  value.tag(5, WireType.LengthDelimited).bytes(list).tag(99, WireType.Varint).uint32(1);
  const entry = new BinaryWriter().tag(1, WireType.LengthDelimited).string("v").tag(2, WireType.LengthDelimited).bytes(value.finish()).finish();
  const bytes = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(entry).tag(2, WireType.Varint).uint32(5).finish();
  expect(decodeStoredFeatures(bytes)).toEqual(new Map([["v", { type: "double_list", value: [1.5, 2.5] }]]));
});

test("an entry without a value is a missing feature", () => {
  const bytes = toBinary(StoredFeaturesSchema, create(StoredFeaturesSchema, { features: { a: {}, b: { kind: { case: "boolValue", value: true } } } }));
  expect(decodeStoredFeatures(bytes)).toEqual(new Map([["b", { type: "bool", value: true }]]));
});
