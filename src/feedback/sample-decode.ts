// A hand-written decoder of IngestSamplesRequest / IngestSampleBatchRequest bytes for
// samples given as `map<string, FeatureValue>`: their features go straight into flat typed
// arrays as FNV-1a hashes of their keys and values, without a message object per sample,
// per feature and per value (fromBinary's allocations, and their garbage collection, were
// most of the cost of ingesting maps). The hash of a name is taken over its raw UTF-8
// bytes, which is what hashing.ts computes from the decoded string.
//
// It reads the canonical encoding only, which every protobuf encoder writes for these
// messages: known fields with their declared wire types, a map entry's key before its
// value, one kind per FeatureValue, scalar kinds. Anything else (lists, unknown fields,
// repeated keys in a sample, names that a JavaScript object would reorder or treat
// specially, invalid UTF-8, malformed bytes) makes it give the whole message to
// fromBinary, the reference: the outcome is always what fromBinary and vectorize give, and
// malformed bytes fail there as they always did.
import { create, fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { DenseSamplesSchema, SampleSchema, type DenseSamples, type Sample } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";

/** Map-form samples of one message, decoded to hashed entries (see hashing.ts for the keys). */
export interface RawSamples {
  /** The message's bytes, which the spans below index. */
  readonly bytes: Uint8Array;
  readonly count: number;
  /** Each sample's model, "" when it names none. */
  readonly models: readonly string[];
  /** 0: no outcome kind, 1: a value, 2: a label. */
  readonly outcomeKind: Uint8Array;
  /** The value, or the label as 1 / 0. */
  readonly outcome: Float64Array;
  /** Sample i has entries offsets[i] .. offsets[i + 1] (no bias entry). Arrays may be longer than `count`. */
  readonly offsets: Uint32Array;
  /** FNV-1a (unreduced) of each entry's key: `name`, or `name=value` for strings. */
  readonly hashes: Uint32Array;
  readonly values: Float64Array;
  /** Where each sample's own message is in `bytes` (decoded again for models with a feature set). */
  readonly sampleStart: Uint32Array;
  readonly sampleEnd: Uint32Array;
}

/** The request's fields as fromBinary gives them, its map-form samples kept raw. */
const rawKey: unique symbol = Symbol("openloop.feedback.rawSamples");

/** The raw samples of a request decoded by decodeSamplesRequest, if it took the fast path. */
export function rawSamplesOf(req: object): RawSamples | undefined {
  return (req as { [rawKey]?: RawSamples })[rawKey];
}

/**
 * Gives the arrays of `raw` back for the next message to decode into (allocating them per
 * message of a thousand samples made garbage collection a fifth of the ingestion's time).
 * `raw` must not be read afterwards.
 */
export function releaseRawSamples(raw: RawSamples): void {
  const scratch = scratchOf.get(raw);
  if (!scratch) return;
  scratchOf.delete(raw);
  if (pool.length < POOL_SIZE) pool.push(scratch);
}

/** A sample's message, decoded (for feature sets, and for the reference's word on bad features). */
export function sampleMessage(raw: RawSamples, i: number): Sample {
  return fromBinary(SampleSchema, raw.bytes.subarray(raw.sampleStart[i]!, raw.sampleEnd[i]!));
}

type RequestLike = { model: string; samples: Sample[]; dense: DenseSamples[]; batchId: string };

/**
 * Decodes an IngestSamplesRequest or IngestSampleBatchRequest (the same fields: model = 1,
 * samples = 2, dense = 3, batch_id = 4). The result's `samples` is empty when they were
 * decoded raw (see rawSamplesOf). Throws on malformed bytes, as fromBinary does.
 */
export function decodeSamplesRequest<T extends DescMessage>(schema: T, bytes: Uint8Array): ReturnType<typeof fromBinary<T>> {
  const fast = tryDecode(bytes);
  if (!fast) return fromBinary(schema, bytes);
  const msg = create(schema, { model: fast.model, dense: fast.dense, batchId: fast.batchId } as never) as unknown as RequestLike & { [rawKey]?: RawSamples };
  if (fast.raw.count > 0) msg[rawKey] = fast.raw;
  else releaseRawSamples(fast.raw); // dense blocks only
  return msg as never;
}

// Wire types.
const VARINT = 0;
const BIT64 = 1;
const LEN = 2;

/** Thrown inside the fast path: hand the message to fromBinary. */
const bail = (): never => {
  throw new Error("not the canonical encoding");
};

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The arrays one message decodes into; pooled, grown as needed, kept grown. */
class Scratch {
  models: string[] = [];
  outcomeKind = new Uint8Array(1024);
  outcome = new Float64Array(1024);
  offsets = new Uint32Array(1025);
  sampleStart = new Uint32Array(1024);
  sampleEnd = new Uint32Array(1024);
  hashes = new Uint32Array(1 << 15);
  values = new Float64Array(1 << 15);
}

// Messages decoded and not yet added are few: one per stream being read.
const POOL_SIZE = 8;
const pool: Scratch[] = [];
const scratchOf = new WeakMap<RawSamples, Scratch>();

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

// Names already seen in the current sample, by hash: a repeated name (or two names with
// one hash) goes to fromBinary, whose map keeps the last value in the first one's place.
const SEEN_BITS = 17;
const seenHash = new Uint32Array(1 << SEEN_BITS);
const seenStamp = new Uint32Array(1 << SEEN_BITS);
let stamp = 0;

function tryDecode(bytes: Uint8Array): { model: string; batchId: string; dense: DenseSamples[]; raw: RawSamples } | undefined {
  const decoder = new FastDecoder(bytes);
  try {
    return decoder.request();
  } catch {
    // Not canonical, invalid UTF-8, a malformed dense block: fromBinary decides (and words the error).
    decoder.abandon();
    return undefined;
  }
}

class FastDecoder {
  private pos = 0;
  private count = 0;
  private entries = 0;
  /** Names read in the current sample. */
  private names = 0;
  private lastModelStart = -1;
  private lastModelEnd = -1;
  private lastModel = "";
  private readonly view: DataView;
  private readonly s: Scratch;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.s = pool.pop() ?? new Scratch();
    this.s.models.length = 0;
  }

  abandon(): void {
    if (pool.length < POOL_SIZE) pool.push(this.s);
  }

  request(): { model: string; batchId: string; dense: DenseSamples[]; raw: RawSamples } {
    const end = this.buf.length;
    let model = "";
    let batchId = "";
    const dense: DenseSamples[] = [];
    while (this.pos < end) {
      const tag = this.varint32();
      if ((tag & 7) !== LEN) bail();
      const to = this.limit(end);
      switch (tag >>> 3) {
        case 1:
          model = this.string(this.pos, to);
          break;
        case 2:
          this.sample(this.pos, to);
          break;
        case 3:
          dense.push(fromBinary(DenseSamplesSchema, this.buf.subarray(this.pos, to)));
          break;
        case 4:
          batchId = this.string(this.pos, to);
          break;
        default:
          bail();
      }
      this.pos = to;
    }
    const s = this.s;
    const raw: RawSamples = {
      bytes: this.buf,
      count: this.count,
      models: s.models,
      outcomeKind: s.outcomeKind,
      outcome: s.outcome,
      offsets: s.offsets,
      hashes: s.hashes,
      values: s.values,
      sampleStart: s.sampleStart,
      sampleEnd: s.sampleEnd,
    };
    scratchOf.set(raw, s);
    return { model, batchId, dense, raw };
  }

  private sample(start: number, end: number): void {
    const i = this.count;
    const sc = this.s;
    if (i + 1 >= sc.offsets.length) growSamples(sc);
    let model = "";
    let kind = 0;
    let outcome = 0;
    this.names = 0;
    stamp = (stamp + 1) >>> 0;
    if (stamp === 0) {
      seenStamp.fill(0);
      stamp = 1;
    }
    this.pos = start;
    const buf = this.buf;
    const view = this.view;
    while (this.pos < end) {
      // The common entries first, in locals: { key: short ASCII name, value: { double_value } }
      // with short lengths, up to the first entry of another shape.
      let p = this.pos;
      let e = this.entries;
      let hashes = sc.hashes;
      let values = sc.values;
      for (;;) {
        const klen = buf[p + 3]!;
        const v = p + 4 + klen;
        if (!(buf[p] === 0x12 && buf[p + 1] === klen + 13 && buf[p + 2] === 0x0a && klen < 0x73 && v + 11 <= end && buf[v] === 0x12 && buf[v + 1] === 0x09 && buf[v + 2] === 0x09)) break;
        let hash = FNV_OFFSET;
        let high = 0;
        for (let k = p + 4; k < v; k++) {
          const b = buf[k]!;
          high |= b;
          hash = Math.imul(hash ^ b, FNV_PRIME);
        }
        const first = buf[p + 4]!;
        if (!(high < 0x80 && klen > 0 && !(first >= 0x30 && first <= 0x39) && first !== 0x5f)) break;
        hash >>>= 0;
        this.unseen(hash);
        if (e === hashes.length) {
          hashes = sc.hashes = grow(hashes, e * 2);
          values = sc.values = grow(values, e * 2);
        }
        hashes[e] = hash;
        values[e] = view.getFloat64(v + 3, true);
        e++;
        p = v + 11;
      }
      this.entries = e;
      this.pos = p;
      if (p >= end) break;
      const tag = this.varint32();
      if ((tag & 7) !== LEN) bail();
      const to = this.limit(end);
      switch (tag >>> 3) {
        case 1:
          model = this.modelName(this.pos, to);
          break;
        case 2:
          this.entry(this.pos, to);
          break;
        case 3:
          // A repeated outcome merges into the first: the last kind read wins.
          while (this.pos < to) {
            const t = this.varint32();
            if (t === ((1 << 3) | BIT64)) {
              kind = 1;
              outcome = this.double(to);
            } else if (t === ((2 << 3) | VARINT)) {
              kind = 2;
              outcome = this.bool(to);
            } else bail();
          }
          break;
        default:
          bail();
      }
      this.pos = to;
    }
    sc.models.push(model);
    sc.outcomeKind[i] = kind;
    sc.outcome[i] = outcome;
    sc.sampleStart[i] = start;
    sc.sampleEnd[i] = end;
    this.count = i + 1;
    sc.offsets[0] = 0;
    sc.offsets[i + 1] = this.entries;
  }

  /** One map entry: key = 1 (string), then value = 2 (FeatureValue). */
  private entry(start: number, end: number): void {
    const buf = this.buf;
    let hash = FNV_OFFSET;
    if (this.pos < end && buf[this.pos] === ((1 << 3) | LEN)) {
      this.pos++;
      const keyEnd = this.limit(end);
      const keyStart = this.pos;
      let high = 0;
      for (let p = keyStart; p < keyEnd; p++) {
        const b = buf[p]!;
        high |= b;
        hash = Math.imul(hash ^ b, FNV_PRIME);
      }
      if (high >= 0x80) strict.decode(buf.subarray(keyStart, keyEnd)); // throws on invalid UTF-8
      // A JavaScript object lists integer-like keys first, and "__proto__" is no own key.
      const first = buf[keyStart];
      if (first === 0x5f && keyEnd - keyStart === 9) bail();
      if (first !== undefined && first >= 0x30 && first <= 0x39 && allDigits(buf, keyStart, keyEnd)) bail();
      this.pos = keyEnd;
    }
    hash >>>= 0;
    this.unseen(hash);
    if (this.pos === end) return; // no value: a missing feature
    if (buf[this.pos] !== ((2 << 3) | LEN)) bail();
    this.pos++;
    const valueEnd = this.limit(end);
    if (valueEnd !== end) bail();
    if (this.pos === valueEnd) return; // a value without a kind: missing
    const tag = buf[this.pos++];
    let value: number;
    switch (tag) {
      case (1 << 3) | BIT64:
        value = this.double(valueEnd);
        break;
      case (2 << 3) | VARINT:
        value = this.int64(valueEnd);
        break;
      case (4 << 3) | VARINT:
        value = this.bool(valueEnd);
        break;
      case (3 << 3) | LEN: {
        const sEnd = this.limit(valueEnd);
        let h = Math.imul(hash ^ 0x3d, FNV_PRIME); // "="
        let high = 0;
        for (let p = this.pos; p < sEnd; p++) {
          const b = buf[p]!;
          high |= b;
          h = Math.imul(h ^ b, FNV_PRIME);
        }
        if (high >= 0x80) strict.decode(buf.subarray(this.pos, sEnd));
        this.pos = sEnd;
        hash = h >>> 0;
        value = 1;
        break;
      }
      default:
        return bail();
    }
    if (this.pos !== valueEnd) bail(); // a second kind, or trailing bytes
    const e = this.entries;
    const sc = this.s;
    if (e === sc.hashes.length) {
      sc.hashes = grow(sc.hashes, e * 2);
      sc.values = grow(sc.values, e * 2);
    }
    sc.hashes[e] = hash;
    sc.values[e] = value;
    this.entries = e + 1;
  }

  private unseen(hash: number): void {
    if (++this.names > 1 << (SEEN_BITS - 2)) bail();
    const mask = (1 << SEEN_BITS) - 1;
    let slot = Math.imul(hash, 0x9e3779b1) >>> (32 - SEEN_BITS);
    // At most a quarter full: a sample with more names than that goes to fromBinary.
    for (;;) {
      if (seenStamp[slot] !== stamp) {
        seenStamp[slot] = stamp;
        seenHash[slot] = hash;
        return;
      }
      if (seenHash[slot] === hash) bail();
      slot = (slot + 1) & mask;
    }
  }

  private modelName(start: number, end: number): string {
    const buf = this.buf;
    const n = end - start;
    if (n === this.lastModelEnd - this.lastModelStart) {
      let same = true;
      for (let k = 0; k < n; k++) {
        if (buf[start + k] !== buf[this.lastModelStart + k]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastModel;
    }
    this.lastModel = this.string(start, end);
    this.lastModelStart = start;
    this.lastModelEnd = end;
    return this.lastModel;
  }

  private string(start: number, end: number): string {
    return strict.decode(this.buf.subarray(start, end));
  }

  private varint32(): number {
    const buf = this.buf;
    const b = buf[this.pos];
    if (b !== undefined && b < 0x80) {
      this.pos++;
      return b;
    }
    let x = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const c = buf[this.pos++];
      if (c === undefined) bail();
      x += (c! & 0x7f) * 2 ** shift;
      if (c! < 0x80) return x > 0xffffffff ? bail() : x;
    }
    return bail();
  }

  /** The end of a length-delimited field whose length comes next; within `end`. */
  private limit(end: number): number {
    const n = this.varint32();
    const to = this.pos + n;
    if (to > end) bail();
    return to;
  }

  private double(end: number): number {
    const p = this.pos;
    if (p + 8 > end) bail();
    this.pos = p + 8;
    return this.view.getFloat64(p, true);
  }

  /** A bool as 1 / 0: only its one-byte encodings (others go to fromBinary). */
  private bool(end: number): number {
    if (this.pos >= end) bail();
    const b = this.buf[this.pos++]!;
    return b === 1 ? 1 : b === 0 ? 0 : bail();
  }

  /** An int64 as Number(BigInt) would give it. */
  private int64(end: number): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let k = 0;
    for (; ; k++) {
      if (this.pos >= end || k === 10) bail();
      const b = buf[this.pos++]!;
      const bits = b & 0x7f;
      if (k < 4) lo |= bits << (7 * k);
      else if (k === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (7 * k - 32);
      if (b < 0x80) break;
    }
    if (k === 9 && buf[this.pos - 1]! > 1) bail();
    lo >>>= 0;
    hi >>>= 0;
    if (hi < 0x80000000) return hi * 4294967296 + lo;
    return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
  }

}

function growSamples(sc: Scratch): void {
  const n = sc.offsets.length * 2;
  sc.outcomeKind = grow(sc.outcomeKind, n);
  sc.outcome = grow(sc.outcome, n);
  sc.offsets = grow(sc.offsets, n + 1);
  sc.sampleStart = grow(sc.sampleStart, n);
  sc.sampleEnd = grow(sc.sampleEnd, n);
}

function allDigits(buf: Uint8Array, start: number, end: number): boolean {
  for (let p = start; p < end; p++) if (buf[p]! < 0x30 || buf[p]! > 0x39) return false;
  return true;
}

function grow<T extends Uint8Array | Uint32Array | Float64Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
