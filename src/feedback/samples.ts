// Blocks of vectorized labeled samples and their binary encoding, used by the learner's
// durable buffer (one record per ingested batch: one write and one fsync per batch).
//
// Record = [u32 payload length][u32 CRC-32 of payload][payload], little-endian.
// Payload (columnar, so every array is 8-byte aligned when the payload is):
//   u32 count, u32 total entries,
//   f64 labels[count], f64 values[total], u32 offsets[count + 1], i32 indices[total]
//   and, for a batch sent with a batch id, a tag: f64 ingest time (ms since the epoch),
//   u32 id length, the id's ASCII bytes (records without one end after the indices)
// Sample i has entries offsets[i] .. offsets[i + 1] (its last entry is the bias).
// The tag is inside the checksummed payload: a batch id is durable exactly when its
// samples are, so a resend after a crash is recognised if and only if they were kept.
import { endianness } from "node:os";
import { crc32 } from "node:zlib";
import type { SparseVector } from "./hashing.js";

if (endianness() !== "LE") throw new Error("the feedback sample encoding assumes a little-endian machine");

export const RECORD_HEADER_BYTES = 8;

/** Decoded samples, ready for training. */
export interface SampleBlock {
  readonly count: number;
  readonly labels: Float64Array;
  readonly offsets: Uint32Array;
  readonly idx: Int32Array;
  readonly val: Float64Array;
  /** The id the samples were sent with, if any. */
  readonly batch?: BatchTag;
}

/** A batch id and when its samples were buffered (ms since the epoch). */
export interface BatchTag {
  readonly id: string;
  readonly time: number;
}

/** Collects vectorized samples with amortised growth; reuse one per stream to avoid allocation. */
export class SampleBlockBuilder {
  count = 0;
  total = 0;
  private labels = new Float64Array(256);
  private offsets = new Uint32Array(257);
  private idx = new Int32Array(4096);
  private val = new Float64Array(4096);

  reset(): void {
    this.count = 0;
    this.total = 0;
  }

  add(vec: SparseVector, label: number): void {
    if (this.count + 1 >= this.labels.length) {
      this.labels = grow(this.labels, this.labels.length * 2);
      this.offsets = grow(this.offsets, this.offsets.length * 2);
    }
    if (this.total + vec.nnz > this.idx.length) {
      const n = Math.max(this.idx.length * 2, this.total + vec.nnz);
      this.idx = grow(this.idx, n);
      this.val = grow(this.val, n);
    }
    this.labels[this.count] = label;
    // A plain loop: subarray() would allocate two views per sample.
    const { idx, val } = this;
    const n = vec.nnz;
    const at = this.total;
    for (let k = 0; k < n; k++) {
      idx[at + k] = vec.idx[k]!;
      val[at + k] = vec.val[k]!;
    }
    this.total += n;
    this.count++;
    this.offsets[this.count] = this.total;
  }

  /** The framed record of the samples added so far, tagged with their batch id if any. */
  encode(batch?: BatchTag): Buffer {
    const { count, total } = this;
    const samplesBytes = payloadSize(count, total);
    const payloadBytes = samplesBytes + (batch ? TAG_HEAD_BYTES + batch.id.length : 0);
    const ab = new ArrayBuffer(RECORD_HEADER_BYTES + payloadBytes);
    const payload = new Uint8Array(ab, RECORD_HEADER_BYTES, payloadBytes);
    const head = new Uint32Array(ab, RECORD_HEADER_BYTES, 2);
    head[0] = count;
    head[1] = total;
    let off = RECORD_HEADER_BYTES + 8;
    new Float64Array(ab, off, count).set(this.labels.subarray(0, count));
    off += count * 8;
    new Float64Array(ab, off, total).set(this.val.subarray(0, total));
    off += total * 8;
    const offsets = new Uint32Array(ab, off, count + 1);
    offsets.set(this.offsets.subarray(0, count + 1));
    offsets[0] = 0;
    off += (count + 1) * 4;
    new Int32Array(ab, off, total).set(this.idx.subarray(0, total));
    if (batch) {
      const tag = new DataView(ab, RECORD_HEADER_BYTES + samplesBytes);
      tag.setFloat64(0, batch.time, true);
      tag.setUint32(8, batch.id.length, true);
      Buffer.from(ab, RECORD_HEADER_BYTES + samplesBytes + TAG_HEAD_BYTES).write(batch.id, "latin1");
    }
    const frame = new DataView(ab, 0, RECORD_HEADER_BYTES);
    frame.setUint32(0, payloadBytes, true);
    frame.setUint32(4, crc32(payload), true);
    return Buffer.from(ab);
  }
}

// A batch tag's time and id length, before the id's bytes.
const TAG_HEAD_BYTES = 12;

function payloadSize(count: number, total: number): number {
  return 8 + count * 8 + total * 8 + (count + 1) * 4 + total * 4;
}

function grow<T extends Float64Array | Uint32Array | Int32Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** Why bytes could not be decoded as a record. */
export class CorruptRecordError extends Error {}

/**
 * Reads one framed record at `pos` of `bytes`. Returns undefined when the bytes end
 * before the record does (a torn tail); throws CorruptRecordError on a bad checksum.
 */
export function readRecord(bytes: Uint8Array, pos: number, copy = true): { block: SampleBlock; end: number } | undefined {
  if (bytes.length - pos < RECORD_HEADER_BYTES) return undefined;
  const frame = new DataView(bytes.buffer, bytes.byteOffset + pos, RECORD_HEADER_BYTES);
  const len = frame.getUint32(0, true);
  const crc = frame.getUint32(4, true);
  const end = pos + RECORD_HEADER_BYTES + len;
  if (end > bytes.length) return undefined;
  const payload = bytes.subarray(pos + RECORD_HEADER_BYTES, end);
  if (crc32(payload) !== crc) throw new CorruptRecordError(`record at byte ${pos} fails its checksum`);
  return { block: decodePayload(payload, copy), end };
}

/**
 * Decodes one whole framed record. With `copy` false the block views `bytes` directly
 * (only for records made by SampleBlockBuilder.encode, whose payload is aligned).
 */
export function decodeRecord(bytes: Uint8Array, copy = true): SampleBlock {
  const r = readRecord(bytes, 0, copy);
  if (!r || r.end !== bytes.length) throw new CorruptRecordError("record length does not match its frame");
  return r.block;
}

/**
 * The samples of a record this process just made with SampleBlockBuilder.encode, as views
 * of its bytes: its checksum was computed from them, so it is not checked again.
 */
export function ownRecordBlock(record: Uint8Array): SampleBlock {
  return decodePayload(record.subarray(RECORD_HEADER_BYTES), false);
}

function decodePayload(payload: Uint8Array, copy: boolean): SampleBlock {
  if (payload.length < 8) throw new CorruptRecordError("record payload is too short");
  let ab: ArrayBuffer;
  let base = 0;
  if (copy || payload.byteOffset % 8 !== 0 || !(payload.buffer instanceof ArrayBuffer)) {
    // One copy into a fresh aligned buffer, then typed views without further copies.
    ab = new ArrayBuffer(payload.length);
    new Uint8Array(ab).set(payload);
  } else {
    ab = payload.buffer;
    base = payload.byteOffset;
  }
  const head = new Uint32Array(ab, base, 2);
  const count = head[0]!;
  const total = head[1]!;
  const samplesBytes = payloadSize(count, total);
  let batch: BatchTag | undefined;
  if (samplesBytes !== payload.length) {
    if (samplesBytes + TAG_HEAD_BYTES > payload.length) throw new CorruptRecordError("record payload size does not match its counts");
    const tag = new DataView(ab, base + samplesBytes, payload.length - samplesBytes);
    const idBytes = tag.getUint32(8, true);
    if (samplesBytes + TAG_HEAD_BYTES + idBytes !== payload.length) throw new CorruptRecordError("record payload size does not match its counts and batch id");
    batch = { time: tag.getFloat64(0, true), id: Buffer.from(ab, base + samplesBytes + TAG_HEAD_BYTES, idBytes).toString("latin1") };
  }
  let off = base + 8;
  const labels = new Float64Array(ab, off, count);
  off += count * 8;
  const val = new Float64Array(ab, off, total);
  off += total * 8;
  const offsets = new Uint32Array(ab, off, count + 1);
  off += (count + 1) * 4;
  const idx = new Int32Array(ab, off, total);
  return batch ? { count, labels, offsets, idx, val, batch } : { count, labels, offsets, idx, val };
}
