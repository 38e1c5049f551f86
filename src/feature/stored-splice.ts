// GetFeaturesResponse and BatchGetFeaturesResponse in protobuf binary, spliced from the
// stored bytes of each entity instead of decoded and re-encoded: a stored map entry
// (StoredFeatures field 1) is byte for byte a map entry of GetFeaturesResponse (field 1)
// and, under tag 3 instead of 1, of EntityFeatures. Only entries in the canonical form
// our own encoder writes are copied; stored bytes in any other form (unknown fields,
// entries without a value, unpacked lists, invalid UTF-8, from another writer or
// version) are first re-encoded through the decoder, so the result always decodes to
// the message the decoding path would build.
import { isUtf8 } from "node:buffer";
import { toBinary } from "@bufbuild/protobuf";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import { decodeStoredFeatures } from "./stored-decode.js";

/** GetFeaturesResponse bytes; with `only`, just the named features. The stored bytes themselves when they can be. */
export function getFeaturesResponseBytes(stored: Uint8Array, only?: ReadonlySet<string>): Uint8Array {
  const bytes = select(stored, only);
  const size = selectedSize;
  if (size === bytes.length) return bytes;
  const out = new Uint8Array(size);
  let pos = 0;
  for (let i = 0; i < spanCount; i += 2) {
    out.set(bytes.subarray(spans[i], spans[i + 1]), pos);
    pos += spans[i + 1] - spans[i];
  }
  return out;
}

/** BatchGetFeaturesResponse bytes: one EntityFeatures per key, in order; `found` is false where `stored` has no bytes. */
export function batchGetFeaturesResponseBytes(entityKeys: readonly string[], stored: readonly (Uint8Array | undefined)[], only?: ReadonlySet<string>): Uint8Array {
  let capacity = 0;
  for (let i = 0; i < entityKeys.length; i++) capacity += 16 + entityKeys[i].length * 3 + (stored[i]?.length ?? 0);
  let out = Buffer.allocUnsafe(capacity);
  let pos = 0;
  for (let i = 0; i < entityKeys.length; i++) {
    const key = entityKeys[i];
    const keyBytes = Buffer.byteLength(key);
    const entity = stored[i] === undefined ? undefined : select(stored[i]!, only);
    const featureBytes = entity === undefined ? 0 : selectedSize;
    // entity_key (1) and found (2) are proto3 scalars: written only when not empty / false.
    const size = (keyBytes > 0 ? 1 + varintSize(keyBytes) + keyBytes : 0) + (entity === undefined ? 0 : 2) + featureBytes;
    const needed = pos + 1 + varintSize(size) + size;
    if (needed > out.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, out.length * 2));
      out.copy(grown, 0, 0, pos);
      out = grown;
    }
    out[pos++] = TAG_ENTITIES;
    pos = writeVarint(out, pos, size);
    if (keyBytes > 0) {
      out[pos++] = TAG_ENTITY_KEY;
      pos = writeVarint(out, pos, keyBytes);
      pos += out.write(key, pos, keyBytes, "utf8");
    }
    if (entity === undefined) continue;
    out[pos++] = TAG_FOUND;
    out[pos++] = 1;
    if (featureBytes === entity.length) {
      // Every entry: one copy, then each entry's tag renumbered (the lengths stay).
      out.set(entity, pos);
      for (let s = 0; s < spanCount; s += 2) out[pos + spans[s]] = TAG_ENTITY_FEATURES;
      pos += featureBytes;
    } else {
      for (let s = 0; s < spanCount; s += 2) {
        out.set(entity.subarray(spans[s], spans[s + 1]), pos);
        out[pos] = TAG_ENTITY_FEATURES;
        pos += spans[s + 1] - spans[s];
      }
    }
  }
  return out.subarray(0, pos);
}

const TAG_ENTRY = (1 << 3) | 2; // StoredFeatures.features and GetFeaturesResponse.features
const TAG_ENTITIES = (1 << 3) | 2; // BatchGetFeaturesResponse.entities
const TAG_ENTITY_KEY = (1 << 3) | 2; // EntityFeatures.entity_key
const TAG_FOUND = (2 << 3) | 0; // EntityFeatures.found
const TAG_ENTITY_FEATURES = (3 << 3) | 2; // EntityFeatures.features
const TAG_KEY = (1 << 3) | 2; // map entry key
const TAG_VALUE = (2 << 3) | 2; // map entry value

// [start, end) of each selected entry (its tag included) of the entity last scanned, and their total size.
let spans = new Int32Array(64);
let spanCount = 0;
let selectedSize = 0;

/**
 * The stored bytes if canonical, else the same features re-encoded (which are), with the
 * entries selected by `only` in `spans`. Throws on malformed bytes.
 */
function select(stored: Uint8Array, only: ReadonlySet<string> | undefined): Uint8Array {
  selectedSize = scan(stored, only);
  if (selectedSize >= 0) return stored;
  const bytes = toBinary(StoredFeaturesSchema, { $typeName: "openloop.feature.v1.StoredFeatures", features: decodeStoredFeatures(stored) });
  selectedSize = scan(bytes, only);
  if (selectedSize < 0) throw new Error("re-encoded StoredFeatures are not in canonical form");
  return bytes;
}

/**
 * Records the entries of canonical bytes selected by `only` in `spans`, and returns their
 * total size; -1 when the bytes are not canonical (then `spans` means nothing).
 */
function scan(b: Uint8Array, only: ReadonlySet<string> | undefined): number {
  spanCount = 0;
  let size = 0;
  let p = 0;
  const end = b.length;
  while (p < end) {
    const start = p;
    if (b[p++] !== TAG_ENTRY) return -1;
    const len = readVarint(b, p);
    if (len < 0) return -1;
    p = varintEnd;
    const entryEnd = p + len;
    if (entryEnd > end || b[p++] !== TAG_KEY) return -1;
    const keyLen = readVarint(b, p);
    if (keyLen < 0) return -1;
    p = varintEnd;
    const keyEnd = p + keyLen;
    if (keyEnd > entryEnd || !validUtf8(b, p, keyEnd)) return -1;
    const selected = only === undefined || only.has(asciiOrUtf8(b, p, keyEnd));
    p = keyEnd;
    if (b[p++] !== TAG_VALUE) return -1;
    const valueLen = readVarint(b, p);
    if (valueLen <= 0) return -1; // a value without a kind is a missing feature: left out
    p = varintEnd;
    if (p + valueLen !== entryEnd || !canonicalValue(b, p, entryEnd)) return -1;
    p = entryEnd;
    if (selected) {
      if (spanCount + 2 > spans.length) {
        const grown = new Int32Array(spans.length * 2);
        grown.set(spans);
        spans = grown;
      }
      spans[spanCount++] = start;
      spans[spanCount++] = entryEnd;
      size += entryEnd - start;
    }
  }
  return size;
}

/** One FeatureValue kind, written as protobuf-es writes it, filling [p, end) exactly. */
function canonicalValue(b: Uint8Array, p: number, end: number): boolean {
  const tag = b[p++];
  switch (tag) {
    case (1 << 3) | 1: // double_value
      return p + 8 === end;
    case (2 << 3) | 0: // int64_value
    case (4 << 3) | 0: // bool_value
      return skipVarint(b, p) === end;
    case (3 << 3) | 2: // string_value
      return lengthDelimitedEnd(b, p) === end && validUtf8(b, varintEnd, end);
    case (5 << 3) | 2: // double_list: packed, or nothing when empty
    case (6 << 3) | 2: // int64_list
    case (8 << 3) | 2: // bool_list
    {
      if (lengthDelimitedEnd(b, p) !== end) return false;
      p = varintEnd;
      if (p === end) return true;
      if (b[p++] !== ((1 << 3) | 2) || lengthDelimitedEnd(b, p) !== end) return false;
      p = varintEnd;
      if (p === end) return false; // an empty packed run is not what protobuf-es writes
      if (tag === ((5 << 3) | 2)) return (end - p) % 8 === 0;
      while (p < end) {
        p = skipVarint(b, p);
        if (p < 0) return false;
      }
      return p === end;
    }
    case (7 << 3) | 2: // string_list
    {
      if (lengthDelimitedEnd(b, p) !== end) return false;
      p = varintEnd;
      while (p < end) {
        if (b[p++] !== ((1 << 3) | 2)) return false;
        const e = lengthDelimitedEnd(b, p);
        if (e < 0 || e > end || !validUtf8(b, varintEnd, e)) return false;
        p = e;
      }
      return true;
    }
    default:
      return false;
  }
}

// Where the last varint read ended (so the readers return one number and allocate nothing).
let varintEnd = 0;

/** A varint of at most 5 bytes below 2^31 (a length), or -1. */
function readVarint(b: Uint8Array, p: number): number {
  const first = b[p];
  if (first < 0x80) {
    varintEnd = p + 1;
    return first;
  }
  let x = 0;
  // A multiplier, not 2 ** shift: V8 calls libm's pow for that (0.8% of a batch read's CPU).
  for (let i = 0, scale = 1; i < 5; i++, scale *= 128) {
    const c = b[p++];
    if (c === undefined) return -1;
    x += (c & 0x7f) * scale;
    if (c < 0x80) {
      varintEnd = p;
      return x < 2 ** 31 ? x : -1;
    }
  }
  return -1;
}

/** The end of a varint of at most 10 bytes, or -1. */
function skipVarint(b: Uint8Array, p: number): number {
  for (let i = 0; i < 10; i++) {
    const c = b[p++];
    if (c === undefined) return -1;
    if (c < 0x80) return p;
  }
  return -1;
}

/** The end of a length-delimited payload whose length is at p (the payload starts at varintEnd), or -1. */
function lengthDelimitedEnd(b: Uint8Array, p: number): number {
  const len = readVarint(b, p);
  return len < 0 ? -1 : varintEnd + len;
}

function validUtf8(b: Uint8Array, start: number, end: number): boolean {
  if (end > b.length) return false;
  for (let i = start; i < end; i++) if (b[i] >= 0x80) return isUtf8(b.subarray(start, end));
  return true;
}

const utf8 = new TextDecoder();

function asciiOrUtf8(b: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c >= 0x80) return utf8.decode(b.subarray(start, end));
    s += String.fromCharCode(c);
  }
  return s;
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}
