// A hand-written decoder of StoredFeatures (the Redis value of one entity) straight
// into domain values: the reflective fromBinary plus the proto-to-domain mapping cost
// about twice as much, and this runs once per entity on every read from Redis.
// Wire format (proto/openloop/feature/v1/feature_store.proto): repeated map entries
// (field 1) of { key = 1: string, value = 2: FeatureValue }. Unknown fields are skipped,
// and repeated scalars are read packed or unpacked, as any protobuf parser must.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Features, Value } from "./value.js";

export function decodeStoredFeatures(bytes: Uint8Array): Features {
  const r = new BinaryReader(bytes, decodeUtf8);
  const out: Features = new Map();
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== 1 || wt !== WireType.LengthDelimited) {
      r.skip(wt, no);
      continue;
    }
    const end = r.uint32() + r.pos;
    let key = "";
    let value: Value | undefined;
    while (r.pos < end) {
      const [eno, ewt] = r.tag();
      if (eno === 1 && ewt === WireType.LengthDelimited) key = r.string();
      else if (eno === 2 && ewt === WireType.LengthDelimited) value = readValue(r, r.uint32() + r.pos);
      else r.skip(ewt, eno);
    }
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

function readValue(r: BinaryReader, end: number): Value | undefined {
  let v: Value | undefined;
  while (r.pos < end) {
    const [no, wt] = r.tag();
    switch (no) {
      case 1:
        if (wt !== WireType.Bit64) break;
        v = { type: "double", value: r.double() };
        continue;
      case 2:
        if (wt !== WireType.Varint) break;
        v = { type: "int64", value: BigInt(r.int64()) };
        continue;
      case 3:
        if (wt !== WireType.LengthDelimited) break;
        v = { type: "string", value: r.string() };
        continue;
      case 4:
        if (wt !== WireType.Varint) break;
        v = { type: "bool", value: r.bool() };
        continue;
      case 5:
      case 6:
      case 7:
      case 8:
        if (wt !== WireType.LengthDelimited) break;
        v = readList(r, no, r.uint32() + r.pos);
        continue;
    }
    r.skip(wt, no);
  }
  return v;
}

// The list messages hold `repeated <scalar> values = 1`.
function readList(r: BinaryReader, kind: 5 | 6 | 7 | 8, end: number): Value {
  const items: (number | bigint | string | boolean)[] = [];
  const one = (): number | bigint | string | boolean => (kind === 5 ? r.double() : kind === 6 ? BigInt(r.int64()) : kind === 7 ? r.string() : r.bool());
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no !== 1) {
      r.skip(wt, no);
      continue;
    }
    if (kind !== 7 && wt === WireType.LengthDelimited) {
      const packedEnd = r.uint32() + r.pos;
      while (r.pos < packedEnd) items.push(one());
    } else if ((kind === 5 && wt === WireType.Bit64) || ((kind === 6 || kind === 8) && wt === WireType.Varint) || (kind === 7 && wt === WireType.LengthDelimited)) {
      items.push(one());
    } else {
      r.skip(wt, no);
    }
  }
  switch (kind) {
    case 5:
      return { type: "double_list", value: items as number[] };
    case 6:
      return { type: "int64_list", value: items as bigint[] };
    case 7:
      return { type: "string_list", value: items as string[] };
    case 8:
      return { type: "bool_list", value: items as boolean[] };
  }
}

const utf8 = new TextDecoder();

// Feature names and most short values are ASCII: building those strings directly skips
// TextDecoder's per-call overhead, which dominates for strings of a few bytes.
function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length <= 32) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c >= 0x80) return utf8.decode(bytes);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(bytes);
}
