// The hand-written StoredFeatures decoder agrees with the reflective protobuf decoder.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { expect, test } from "vitest";
import { GetFeaturesResponseSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import { encodeStored } from "../../src/feature/proto.js";
import { decodeStoredFeatures } from "../../src/feature/stored-decode.js";
import type { ProtoFeatures } from "../../src/feature/stored-decode.js";
import { edgeValues, randomFeatures } from "./stored-samples.js";

/** fromBinary, without the entries that have no value (missing features are not returned). */
function reflective(bytes: Uint8Array, only?: ReadonlySet<string>): ProtoFeatures {
  const all = fromBinary(StoredFeaturesSchema, bytes).features;
  return Object.fromEntries(Object.entries(all).filter(([name, v]) => v.kind.case !== undefined && (only === undefined || only.has(name))));
}

/** The response bytes of both decodings, unknown fields left out: equal bytes, equal messages. */
function expectSameResponse(fast: ProtoFeatures, slow: ProtoFeatures) {
  const encode = (features: ProtoFeatures) => toBinary(GetFeaturesResponseSchema, create(GetFeaturesResponseSchema, { features }), { writeUnknownFields: false });
  const bytes = encode(slow);
  expect(encode(fast)).toEqual(bytes);
  expect(fast).toEqual(fromBinary(GetFeaturesResponseSchema, bytes).features);
}

test("decodes every kind, with edge values, exactly as the reflective decoder", () => {
  const bytes = encodeStored(edgeValues);
  const fast = decodeStoredFeatures(bytes);
  expectSameResponse(fast, reflective(bytes));
  expect(Object.keys(fast).sort()).toEqual([...edgeValues.keys()].sort());
  expect(Object.is(fast.d.kind.value, -0)).toBe(true);
  expect(fast.nan.kind.value).toBeNaN();
});

test("decodes random entities of every kind exactly as the reflective decoder", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const bytes = encodeStored(randomFeatures(seed));
    expectSameResponse(decodeStoredFeatures(bytes), reflective(bytes));
  }
});

test("decodes only the selected features, and nothing of an empty entity", () => {
  const bytes = encodeStored(edgeValues);
  const only = new Set(["i", "sl", "absent"]);
  const fast = decodeStoredFeatures(bytes, only);
  expect(Object.keys(fast).sort()).toEqual(["i", "sl"]);
  expectSameResponse(fast, reflective(bytes, only));
  expect(decodeStoredFeatures(encodeStored(new Map()))).toEqual({});
  expect(decodeStoredFeatures(new Uint8Array(0))).toEqual({});
});

test("reads unpacked repeated fields, a key after its value, and skips unknown fields, as protobuf parsers must", () => {
  const list = new BinaryWriter().tag(1, WireType.Bit64).double(1.5).tag(1, WireType.Bit64).double(2.5).tag(7, WireType.Varint).uint32(3).finish();
  const ints = new BinaryWriter().tag(1, WireType.Varint).int64(-3n).tag(1, WireType.LengthDelimited).fork().int64(4n).int64(5n).join().finish();
  const bools = new BinaryWriter().tag(1, WireType.Varint).bool(true).tag(9, WireType.Bit32).fixed32(1).tag(1, WireType.LengthDelimited).fork().bool(false).join().finish();
  const entry = (name: string, value: Uint8Array, keyLast = false) => {
    const w = new BinaryWriter();
    if (!keyLast) w.tag(1, WireType.LengthDelimited).string(name);
    w.tag(2, WireType.LengthDelimited).bytes(value).tag(3, WireType.Varint).uint32(9);
    if (keyLast) w.tag(1, WireType.LengthDelimited).string(name);
    return w.finish();
  };
  const bytes = new BinaryWriter()
    .tag(1, WireType.LengthDelimited).bytes(entry("dl", new BinaryWriter().tag(5, WireType.LengthDelimited).bytes(list).tag(99, WireType.Varint).uint32(1).finish()))
    .tag(2, WireType.Varint).uint32(5)
    .tag(1, WireType.LengthDelimited).bytes(entry("il", new BinaryWriter().tag(6, WireType.LengthDelimited).bytes(ints).finish(), true))
    .tag(3, WireType.StartGroup).tag(1, WireType.Varint).uint32(1).tag(3, WireType.EndGroup)
    .tag(1, WireType.LengthDelimited).bytes(entry("bl", new BinaryWriter().tag(8, WireType.LengthDelimited).bytes(bools).finish()))
    .finish();
  const fast = decodeStoredFeatures(bytes);
  expectSameResponse(fast, reflective(bytes));
  expect(fast.dl.kind.value).toEqual(expect.objectContaining({ values: [1.5, 2.5] }));
  expect(fast.il.kind.value).toEqual(expect.objectContaining({ values: [-3n, 4n, 5n] }));
  expect(fast.bl.kind.value).toEqual(expect.objectContaining({ values: [true, false] }));
});

test("an entry without a value is a missing feature", () => {
  const bytes = toBinary(StoredFeaturesSchema, create(StoredFeaturesSchema, { features: { a: {}, b: { kind: { case: "boolValue", value: true } } } }));
  const fast = decodeStoredFeatures(bytes);
  expect(Object.keys(fast)).toEqual(["b"]);
  expectSameResponse(fast, reflective(bytes));
});

test("refuses truncated or malformed bytes instead of returning part of them", () => {
  const bytes = encodeStored(edgeValues);
  for (const cut of [1, 2, 5, bytes.length - 1]) expect(() => decodeStoredFeatures(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow();
  expect(() => decodeStoredFeatures(new Uint8Array([0x0a, 0x05, 0x0a, 0x01]))).toThrow();
  expect(() => decodeStoredFeatures(new Uint8Array([0x0f]))).toThrow(/wire type/);
});
