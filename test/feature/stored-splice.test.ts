// Responses spliced from stored bytes decode to exactly the messages the reflective
// protobuf-es path builds and encodes.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { expect, test } from "vitest";
import { BatchGetFeaturesResponseSchema, GetFeaturesResponseSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import { encodeStored } from "../../src/feature/proto.js";
import { decodeStoredFeatures } from "../../src/feature/stored-decode.js";
import { batchGetFeaturesResponseBytes, getFeaturesResponseBytes } from "../../src/feature/stored-splice.js";
import { edgeValues, randomFeatures } from "./stored-samples.js";

/** The features a response holds, by the reflective decoder: entries without a value are missing features. */
function reflectiveFeatures(stored: Uint8Array, only?: ReadonlySet<string>) {
  const all = fromBinary(StoredFeaturesSchema, stored).features;
  return Object.fromEntries(Object.entries(all).filter(([name, v]) => v.kind.case !== undefined && (only === undefined || only.has(name))));
}

const noUnknown = { writeUnknownFields: false };

function expectGet(stored: Uint8Array, only?: ReadonlySet<string>) {
  const spliced = getFeaturesResponseBytes(stored, only);
  const expected = toBinary(GetFeaturesResponseSchema, create(GetFeaturesResponseSchema, { features: reflectiveFeatures(stored, only) }), noUnknown);
  const decoded = fromBinary(GetFeaturesResponseSchema, spliced);
  expect(decoded.$unknown).toBeUndefined();
  expect(toBinary(GetFeaturesResponseSchema, decoded)).toEqual(expected);
}

function expectBatch(keys: string[], stored: (Uint8Array | undefined)[], only?: ReadonlySet<string>) {
  const spliced = batchGetFeaturesResponseBytes(keys, stored, only);
  const expected = toBinary(
    BatchGetFeaturesResponseSchema,
    create(BatchGetFeaturesResponseSchema, {
      entities: keys.map((entityKey, i) => ({ entityKey, found: stored[i] !== undefined, features: stored[i] === undefined ? {} : reflectiveFeatures(stored[i]!, only) })),
    }),
    noUnknown,
  );
  const decoded = fromBinary(BatchGetFeaturesResponseSchema, spliced);
  expect(decoded.entities.map((e) => e.$unknown)).toEqual(keys.map(() => undefined));
  expect(toBinary(BatchGetFeaturesResponseSchema, decoded)).toEqual(expected);
  return decoded;
}

const edge = encodeStored(edgeValues);
const randoms = Array.from({ length: 300 }, (_, i) => encodeStored(randomFeatures(i + 1)));

test("GetFeatures: the stored bytes are the response, unchanged and uncopied", () => {
  expect(getFeaturesResponseBytes(edge)).toBe(edge);
  expectGet(edge);
  for (const stored of randoms) expectGet(stored);
  expectGet(encodeStored(new Map()));
});

test("GetFeatures: only the selected features, in any selection", () => {
  for (const only of [new Set(["i", "sl", "7", "名前", "absent"]), new Set(["absent"]), new Set([...edgeValues.keys()]), new Set([""])]) expectGet(edge, only);
  for (const [i, stored] of randoms.entries()) expectGet(stored, new Set(Object.keys(reflectiveFeatures(stored)).filter((_, j) => (i + j) % 3 === 0)));
});

test("BatchGetFeatures: found and missing entities in request order, with every kind of value", () => {
  const keys = randoms.map((_, i) => (i % 7 === 0 ? `müssing-${i}` : `user-${i}`));
  const stored = randoms.map((s, i) => (i % 7 === 0 ? undefined : s));
  const decoded = expectBatch(keys, stored);
  expect(decoded.entities.map((e) => e.entityKey)).toEqual(keys);
  expect(decoded.entities.map((e) => e.found)).toEqual(stored.map((s) => s !== undefined));
  expectBatch(["e", "f", "g"], [edge, encodeStored(new Map()), undefined]);
  expectBatch([], []);
  expectBatch(["only-missing"], [undefined]);
});

test("BatchGetFeatures: only the selected features of each entity", () => {
  const keys = ["a", "b", "c", "d"];
  const stored = [edge, undefined, randoms[3], encodeStored(new Map())];
  for (const only of [new Set(["i", "dl", "7"]), new Set(["absent"]), new Set([...edgeValues.keys()])]) expectBatch(keys, stored, only);
});

test("BatchGetFeatures: entities and keys long enough for multi-byte lengths", () => {
  const big = encodeStored(new Map([["v", { type: "double_list", value: Array.from({ length: 3000 }, (_, i) => i / 7) }], ["w", { type: "string", value: "ü".repeat(70_000) }]]));
  expect(big.length).toBeGreaterThan(2 ** 14 + 2 ** 7);
  expectBatch(["k".repeat(200), "😀".repeat(60), "x"], [big, big, edge]);
  expectGet(big);
});

/** StoredFeatures bytes written by hand: each entry as [name, FeatureValue bytes]. */
function handWritten(entries: [string, Uint8Array][], extra?: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  for (const [name, value] of entries) w.tag(1, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string(name).tag(2, WireType.LengthDelimited).bytes(value).finish());
  extra?.(w);
  return w.finish();
}

const value = (build: (w: BinaryWriter) => void) => {
  const w = new BinaryWriter();
  build(w);
  return w.finish();
};

test("stored bytes in another form than ours are re-encoded, and decode to the same messages", () => {
  const unusual: Uint8Array[] = [
    // An unknown field at the top, in an entry, in a value, in a list.
    handWritten([["d", value((w) => w.tag(1, WireType.Bit64).double(1.5))]], (w) => w.tag(9, WireType.Varint).uint32(1)),
    handWritten([["d", value((w) => w.tag(1, WireType.Bit64).double(1.5).tag(99, WireType.LengthDelimited).string("x"))]]),
    handWritten([["dl", value((w) => w.tag(5, WireType.LengthDelimited).bytes(value((l) => l.tag(1, WireType.LengthDelimited).fork().double(1).join().tag(2, WireType.Varint).uint32(0))))]]),
    // Unpacked list elements, and an empty packed run.
    handWritten([["il", value((w) => w.tag(6, WireType.LengthDelimited).bytes(value((l) => l.tag(1, WireType.Varint).int64(-1n).tag(1, WireType.Varint).int64(2n))))]]),
    handWritten([["bl", value((w) => w.tag(8, WireType.LengthDelimited).bytes(value((l) => l.tag(1, WireType.LengthDelimited).fork().join())))]]),
    // An entry without a value, and one whose value has no kind: missing features.
    handWritten([["none", new Uint8Array(0)], ["b", value((w) => w.tag(4, WireType.Varint).bool(true))]]),
    new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string("nokind").finish()).finish(),
    // The key after the value.
    new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(value((w) => w.tag(3, WireType.LengthDelimited).string("v"))).tag(1, WireType.LengthDelimited).string("late").finish()).finish(),
    // Two kinds in one value: the last wins.
    handWritten([["two", value((w) => w.tag(1, WireType.Bit64).double(1).tag(3, WireType.LengthDelimited).string("last"))], ["ok", value((w) => w.tag(2, WireType.Varint).int64(5n))]]),
  ];
  for (const [i, stored] of unusual.entries()) {
    expect(getFeaturesResponseBytes(stored), `case ${i} is not canonical`).not.toBe(stored);
    expectGet(stored);
    expectGet(stored, new Set(["d", "b", "late", "two"]));
  }
  expectBatch(unusual.map((_, i) => `k${i}`), unusual);
  expectBatch(unusual.map((_, i) => `k${i}`), unusual, new Set(["dl", "il", "ok"]));
});

test("invalid UTF-8 in stored names and strings is replaced, as the decoder replaces it, so clients can parse the response", () => {
  // protobuf-es's own decoder refuses such bytes: the reference here is the hand-written decoder.
  const invalidUtf8 = new Uint8Array([0x61, 0xff, 0xfe, 0x62]);
  const unusual = [
    handWritten([["s", value((w) => w.tag(3, WireType.LengthDelimited).bytes(invalidUtf8))]]),
    handWritten([["sl", value((w) => w.tag(7, WireType.LengthDelimited).bytes(value((l) => l.tag(1, WireType.LengthDelimited).bytes(invalidUtf8))))]]),
    new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(invalidUtf8).tag(2, WireType.LengthDelimited).bytes(value((w) => w.tag(4, WireType.Varint).bool(true))).finish()).finish(),
    // Three bytes out for each one in: more than the batch's first estimate of its size.
    handWritten([["many", value((w) => w.tag(3, WireType.LengthDelimited).bytes(new Uint8Array(5000).fill(0xff)))]]),
  ];
  const viaDecoder = (stored: Uint8Array) => create(GetFeaturesResponseSchema, { features: decodeStoredFeatures(stored) });
  for (const stored of unusual) {
    const response = fromBinary(GetFeaturesResponseSchema, getFeaturesResponseBytes(stored));
    expect(response).toEqual(viaDecoder(stored));
    expect(JSON.stringify(response.features)).toContain("\ufffd");
  }
  const batch = fromBinary(BatchGetFeaturesResponseSchema, batchGetFeaturesResponseBytes(["a", "b", "c", "d"], unusual));
  expect(batch.entities.map((e) => e.features)).toEqual(unusual.map((s) => viaDecoder(s).features));
});

test("refuses malformed stored bytes", () => {
  for (const cut of [1, 2, 7, edge.length - 1]) {
    expect(() => getFeaturesResponseBytes(edge.subarray(0, cut)), `cut at ${cut}`).toThrow();
    expect(() => batchGetFeaturesResponseBytes(["a"], [edge.subarray(0, cut)]), `cut at ${cut}`).toThrow();
  }
});
