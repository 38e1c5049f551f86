// The feature reads' own request decoders (src/feature/string-request-decode.ts) against
// protobuf-es on the same bytes: equal messages for every request protobuf-es accepts, the same
// failure for every request it refuses.
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { expect, test } from "vitest";
import { BatchGetFeaturesRequestSchema, GetFeaturesRequestSchema, PutFeaturesRequestSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { stringRequestDecoder } from "../../src/feature/string-request-decode.js";

const decodeBatch = stringRequestDecoder(BatchGetFeaturesRequestSchema);
const decodeGet = stringRequestDecoder(GetFeaturesRequestSchema);

function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function same(schema: DescMessage, decode: (b: Uint8Array) => unknown, bytes: Uint8Array): void {
  expect(outcome(() => decode(bytes))).toEqual(outcome(() => fromBinary(schema, bytes)));
  // gRPC hands over Buffers; other callers may pass plain Uint8Arrays.
  expect(outcome(() => decode(Buffer.from(bytes)))).toEqual(outcome(() => fromBinary(schema, Buffer.from(bytes))));
}

test("requests as clients send them decode to protobuf-es's messages", () => {
  const batches = [
    {},
    { featureSet: "bench", entityKeys: Array.from({ length: 100 }, (_, i) => `user-${i}`) },
    { featureSet: "sét", entityKeys: ["ünï", "", "日本語", "x".repeat(300)], featureNames: ["a", "✓"] },
    { entityKeys: ["only keys"] },
  ];
  for (const b of batches) same(BatchGetFeaturesRequestSchema, decodeBatch, toBinary(BatchGetFeaturesRequestSchema, create(BatchGetFeaturesRequestSchema, b)));
  for (const g of [{}, { featureSet: "s", entityKey: "e" }, { featureSet: "s", entityKey: "ключ", featureNames: ["f1", "f2"] }]) {
    same(GetFeaturesRequestSchema, decodeGet, toBinary(GetFeaturesRequestSchema, create(GetFeaturesRequestSchema, g)));
  }
});

test("unusual but valid encodings decode as protobuf-es decodes them", () => {
  const w = () => new BinaryWriter();
  const cases = [
    // A singular field given twice: the last one wins.
    w().tag(1, 2).string("first").tag(2, 2).string("k").tag(1, 2).string("second").finish(),
    // An unknown field, kept by protobuf-es.
    w().tag(1, 2).string("s").tag(9, 0).int32(7).tag(2, 2).string("k").finish(),
    // A field number above 15 (a two-byte tag).
    w().tag(1, 2).string("s").tag(20, 2).string("x").finish(),
    // A length written in more bytes than it needs.
    Uint8Array.from([0x0a, 0x81, 0x00, 0x61]),
  ];
  for (const bytes of cases) same(BatchGetFeaturesRequestSchema, decodeBatch, bytes);
});

test("malformed requests fail as they fail in protobuf-es", () => {
  const valid = toBinary(BatchGetFeaturesRequestSchema, create(BatchGetFeaturesRequestSchema, { featureSet: "s", entityKeys: ["a", "b"] }));
  const cases = [
    valid.subarray(0, valid.length - 1), // truncated string
    Uint8Array.from([0x12, 0x03, 0x61, 0xff, 0x62]), // invalid UTF-8 in a key
    Uint8Array.from([0x12, 0x02, 0xc3, 0x28]), // an invalid two-byte sequence
    Uint8Array.from([0x10, 0x01]), // a string field sent as a varint
    Uint8Array.from([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // an absurd length
    Uint8Array.from([0x12]), // a tag and nothing else
  ];
  for (const bytes of cases) {
    expect(outcome(() => fromBinary(BatchGetFeaturesRequestSchema, bytes))).toHaveProperty("error");
    same(BatchGetFeaturesRequestSchema, decodeBatch, bytes);
  }
});

test("a schema with a field that is not a string is refused when the decoder is made", () => {
  expect(() => stringRequestDecoder(PutFeaturesRequestSchema)).toThrow(/is not a string field/);
});
