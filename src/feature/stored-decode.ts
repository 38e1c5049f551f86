// A hand-written decoder of StoredFeatures (the stored value of one entity) straight into
// the response's `map<string, FeatureValue>`: this runs once per entity on every read, and
// fromBinary (or a detour through domain values) allocates several times more objects.
// Wire format (proto/openloop/feature/v1/feature_store.proto): repeated map entries
// (field 1) of { key = 1: string, value = 2: FeatureValue }. Unknown fields are skipped,
// repeated scalars are read packed or unpacked, as any protobuf parser must, and an
// entry whose value has no kind (a missing value) is left out, as requests' are.
import type { FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";

export type ProtoFeatures = { [name: string]: FeatureValue };

const VARINT = 0;
const BIT64 = 1;
const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const BIT32 = 5;

const VALUE = "openloop.feature.v1.FeatureValue" as const;

/** The stored features as response messages; with `only`, just the named ones. Throws on malformed bytes. */
export function decodeStoredFeatures(bytes: Uint8Array, only?: ReadonlySet<string>): ProtoFeatures {
  const r = new Reader(bytes);
  const out: ProtoFeatures = {};
  while (r.pos < r.end) {
    const tag = r.varint32();
    if (tag !== ((1 << 3) | LENGTH_DELIMITED)) {
      r.skip(tag);
      continue;
    }
    const entryEnd = r.limit();
    let key = "";
    let value: FeatureValue | undefined;
    let valueStart = -1;
    let valueEnd = -1;
    while (r.pos < entryEnd) {
      const t = r.varint32();
      if (t === ((1 << 3) | LENGTH_DELIMITED)) key = r.string();
      else if (t === ((2 << 3) | LENGTH_DELIMITED)) {
        // The key may follow the value: decide on the value once the entry is read.
        valueEnd = r.limit();
        valueStart = r.pos;
        r.pos = valueEnd;
      } else r.skip(t);
    }
    r.expectEnd(entryEnd);
    if (valueStart < 0 || (only !== undefined && !only.has(key))) continue;
    r.pos = valueStart;
    value = readValue(r, valueEnd);
    r.pos = entryEnd;
    if (value !== undefined) out[key] = value;
  }
  r.expectEnd(r.end);
  return out;
}

function readValue(r: Reader, end: number): FeatureValue | undefined {
  let v: FeatureValue | undefined;
  while (r.pos < end) {
    const tag = r.varint32();
    switch (tag) {
      case (1 << 3) | BIT64:
        v = { $typeName: VALUE, kind: { case: "doubleValue", value: r.double() } };
        continue;
      case (2 << 3) | VARINT:
        v = { $typeName: VALUE, kind: { case: "int64Value", value: r.int64() } };
        continue;
      case (3 << 3) | LENGTH_DELIMITED:
        v = { $typeName: VALUE, kind: { case: "stringValue", value: r.string() } };
        continue;
      case (4 << 3) | VARINT:
        v = { $typeName: VALUE, kind: { case: "boolValue", value: r.bool() } };
        continue;
      case (5 << 3) | LENGTH_DELIMITED:
        v = { $typeName: VALUE, kind: { case: "doubleList", value: { $typeName: "openloop.feature.v1.DoubleList", values: readDoubles(r, r.limit()) } } };
        continue;
      case (6 << 3) | LENGTH_DELIMITED:
        v = { $typeName: VALUE, kind: { case: "int64List", value: { $typeName: "openloop.feature.v1.Int64List", values: readInt64s(r, r.limit()) } } };
        continue;
      case (7 << 3) | LENGTH_DELIMITED:
        v = { $typeName: VALUE, kind: { case: "stringList", value: { $typeName: "openloop.feature.v1.StringList", values: readStrings(r, r.limit()) } } };
        continue;
      case (8 << 3) | LENGTH_DELIMITED:
        v = { $typeName: VALUE, kind: { case: "boolList", value: { $typeName: "openloop.feature.v1.BoolList", values: readBools(r, r.limit()) } } };
        continue;
    }
    r.skip(tag);
  }
  r.expectEnd(end);
  return v;
}

// The list messages hold `repeated <scalar> values = 1`, packed or not.

function readDoubles(r: Reader, end: number): number[] {
  const items: number[] = [];
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) {
      const packedEnd = r.limit();
      while (r.pos < packedEnd) items.push(r.double());
      r.expectEnd(packedEnd);
    } else if (tag === ((1 << 3) | BIT64)) items.push(r.double());
    else r.skip(tag);
  }
  r.expectEnd(end);
  return items;
}

function readInt64s(r: Reader, end: number): bigint[] {
  const items: bigint[] = [];
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) {
      const packedEnd = r.limit();
      while (r.pos < packedEnd) items.push(r.int64());
      r.expectEnd(packedEnd);
    } else if (tag === ((1 << 3) | VARINT)) items.push(r.int64());
    else r.skip(tag);
  }
  r.expectEnd(end);
  return items;
}

function readBools(r: Reader, end: number): boolean[] {
  const items: boolean[] = [];
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) {
      const packedEnd = r.limit();
      while (r.pos < packedEnd) items.push(r.bool());
      r.expectEnd(packedEnd);
    } else if (tag === ((1 << 3) | VARINT)) items.push(r.bool());
    else r.skip(tag);
  }
  r.expectEnd(end);
  return items;
}

function readStrings(r: Reader, end: number): string[] {
  const items: string[] = [];
  while (r.pos < end) {
    const tag = r.varint32();
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) items.push(r.string());
    else r.skip(tag);
  }
  r.expectEnd(end);
  return items;
}

const utf8 = new TextDecoder();

/** A cursor over protobuf binary: no allocation per tag or per string view, unlike BinaryReader. */
class Reader {
  pos = 0;
  readonly end: number;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.end = buf.length;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A varint of up to 32 bits (tags, lengths); longer encodings keep their low 32 bits, as protobuf parsers do. */
  varint32(): number {
    const buf = this.buf;
    let b = this.byte();
    if (b < 0x80) return b;
    let x = b & 0x7f;
    b = this.byte();
    x |= (b & 0x7f) << 7;
    if (b < 0x80) return x;
    b = this.byte();
    x |= (b & 0x7f) << 14;
    if (b < 0x80) return x;
    b = this.byte();
    x |= (b & 0x7f) << 21;
    if (b < 0x80) return x;
    b = this.byte();
    x |= (b & 0x0f) << 28;
    for (let i = 5; b >= 0x80; i++) {
      if (i === 10) throw new Error("invalid varint");
      b = buf[this.pos++];
      if (b === undefined) throw truncated();
    }
    return x >>> 0;
  }

  /** The end of a length-delimited field whose length comes next. */
  limit(): number {
    const n = this.varint32();
    const end = this.pos + n;
    if (end > this.end) throw truncated();
    return end;
  }

  int64(): bigint {
    // Fast path: up to 7 bytes (below 2^49) fit a double exactly.
    const buf = this.buf;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(n);
      scale *= 128;
    }
    let x = BigInt(n);
    let shift = 49n;
    for (let i = 7; ; i++) {
      if (i === 10) throw new Error("invalid varint");
      const b = buf[this.pos++];
      if (b === undefined) throw truncated();
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, x);
      shift += 7n;
    }
  }

  bool(): boolean {
    let b = this.byte();
    let nonZero = b & 0x7f;
    for (let i = 1; b >= 0x80; i++) {
      if (i === 10) throw new Error("invalid varint");
      b = this.byte();
      nonZero |= b & 0x7f;
    }
    return nonZero !== 0;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw truncated();
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  // Feature names and most short values are ASCII: building those strings directly skips
  // TextDecoder's per-call overhead, which dominates for strings of a few bytes.
  string(): string {
    const end = this.limit();
    const buf = this.buf;
    const start = this.pos;
    this.pos = end;
    if (end - start <= 32) {
      let s = "";
      for (let i = start; i < end; i++) {
        const c = buf[i];
        if (c >= 0x80) return utf8.decode(buf.subarray(start, end));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8.decode(buf.subarray(start, end));
  }

  skip(tag: number): void {
    switch (tag & 7) {
      case VARINT:
        while (this.byte() >= 0x80);
        return;
      case BIT64:
        this.pos += 8;
        break;
      case LENGTH_DELIMITED:
        this.pos = this.limit();
        return;
      case BIT32:
        this.pos += 4;
        break;
      case START_GROUP:
        for (;;) {
          const t = this.varint32();
          if ((t & 7) === END_GROUP) {
            if (t >>> 3 !== tag >>> 3) throw new Error("invalid end group tag");
            return;
          }
          this.skip(t);
        }
      default:
        throw new Error(`invalid wire type ${tag & 7}`);
    }
    if (this.pos > this.end) throw truncated();
  }

  /** A nested message must end exactly where its length said. */
  expectEnd(end: number): void {
    if (this.pos !== end) throw truncated();
  }

  private byte(): number {
    const b = this.buf[this.pos++];
    if (b === undefined) throw truncated();
    return b;
  }
}

function truncated(): Error {
  return new Error("premature end of StoredFeatures bytes");
}
