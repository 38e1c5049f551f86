// HPACK (RFC 7541) for our HTTP/2 server: a decoder with a dynamic table, and an encoder that never indexes.

/** A COMPRESSION_ERROR: the connection must end with GOAWAY(COMPRESSION_ERROR). */
export class HpackError extends Error {
  override name = "HpackError";
}

// RFC 7541 Appendix A.
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC_TABLE.length;
const STATIC_NAMES = STATIC_TABLE.map((e) => e[0]);
const STATIC_VALUES = STATIC_TABLE.map((e) => e[1]);

// RFC 7541 Appendix B: (code, bit length) for symbols 0..255 and EOS (256).
const HUFFMAN_CODES = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28,
  0xfffffe6, 28, 0xfffffe7, 28, 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28,
  0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, 0xfffffed, 28, 0xfffffee, 28,
  0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28,
  0xffffffa, 28, 0xffffffb, 28, 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12,
  0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, 0x3fa, 10, 0x3fb, 10,
  0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6,
  0x1c, 6, 0x1d, 6, 0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8,
  0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, 0x1ffa, 13, 0x21, 6,
  0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7,
  0x69, 7, 0x6a, 7, 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7,
  0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, 0xfc, 8, 0x73, 7,
  0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5,
  0x25, 6, 0x26, 6, 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7,
  0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, 0x2b, 6, 0x76, 7,
  0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14,
  0x1ffd, 13, 0xffffffc, 28, 0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20,
  0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, 0x3fffd6, 22, 0x7fffda, 23,
  0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23,
  0x7fffe2, 23, 0x7fffe3, 23, 0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23,
  0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, 0x3fffda, 22, 0x1fffdd, 21,
  0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22,
  0x7fffeb, 23, 0x7fffec, 23, 0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21,
  0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, 0xfffea, 20, 0x3fffe2, 22,
  0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23,
  0x3fffe8, 22, 0x1ffffec, 25, 0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27,
  0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, 0x7fff2, 19, 0x1fffe3, 21,
  0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27,
  0x7ffffe4, 27, 0x7ffffe5, 27, 0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21,
  0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, 0x3fffea, 22, 0x3fffeb, 22,
  0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27,
  0x7ffffe9, 27, 0x7ffffea, 27, 0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27,
  0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, 0x3fffffff, 30,
];
const EOS = 256;

// The Huffman decoder is a state machine over whole input octets. A state is an internal node of the code
// tree (256 of them, root = 0); the steps table's [state << 8 | octet] holds the next state (bits 0-7), the symbols
// completed on the way (bits 8-15 and 16-23: every code is at least 5 bits, so an octet completes at most 2)
// and these flags:
const EMIT_ONE = 1 << 24;
const EMIT_TWO = 1 << 25;
// The next state may end the string: up to 7 bits of the all-ones prefix of EOS are its padding.
const ACCEPT = 1 << 26;
// The octet completes EOS, which must never appear.
const FAIL = 1 << 27;
// Built on the first Huffman string (about 7 ms and 256 KB), not at start-up: a server no
// HTTP/2 client has reached yet pays for neither.
let huffmanSteps: Int32Array | undefined;

function buildHuffmanSteps(): Int32Array {
  // tree[2n + bit]: the child of internal node n, another internal node or ~symbol for a leaf.
  const tree = new Int32Array(512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[2 * sym];
    let node = 0;
    for (let bit = HUFFMAN_CODES[2 * sym + 1] - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot];
    }
    tree[2 * node + (code & 1)] = ~sym;
  }
  const accepting = new Uint8Array(256);
  for (let depth = 0, node = 0; depth < 8; depth++, node = tree[2 * node + 1]) accepting[node] = 1;

  const steps = new Int32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let octet = 0; octet < 256; octet++) {
      let node = state;
      let entry = 0;
      for (let bit = 7; bit >= 0 && entry !== FAIL; bit--) {
        const child = tree[2 * node + ((octet >>> bit) & 1)];
        if (child >= 0) {
          node = child;
        } else if (~child === EOS) {
          entry = FAIL;
        } else {
          entry = entry & EMIT_ONE ? entry | EMIT_TWO | (~child << 16) : EMIT_ONE | (~child << 8);
          node = 0;
        }
      }
      steps[(state << 8) | octet] = entry === FAIL ? FAIL : entry | node | (accepting[node] ? ACCEPT : 0);
    }
  }
  return steps;
}

// Where Huffman strings are decoded before becoming strings; grows to the longest seen.
let huffmanOut = Buffer.allocUnsafeSlow(256);

function huffmanString(src: Buffer, start: number, end: number): string {
  // Every code is at least 5 bits long.
  const most = Math.floor(((end - start) * 8) / 5);
  if (huffmanOut.length < most) huffmanOut = Buffer.allocUnsafeSlow(most);
  const out = huffmanOut;
  const steps = (huffmanSteps ??= buildHuffmanSteps());
  let n = 0;
  let entry = ACCEPT;
  for (let i = start, state = 0; i < end; i++) {
    entry = steps[(state << 8) | src[i]];
    if (entry & FAIL) throw new HpackError("EOS in a Huffman string");
    if (entry & EMIT_ONE) {
      out[n++] = (entry >>> 8) & 0xff;
      if (entry & EMIT_TWO) out[n++] = (entry >>> 16) & 0xff;
    }
    state = entry & 0xff;
  }
  if (!(entry & ACCEPT)) throw new HpackError("bad Huffman padding");
  return out.toString("latin1", 0, n);
}

// Larger integers are refused: no length, index or table size we accept comes near.
const MAX_INT = 0xffffffff;

export class HpackDecoder {
  private readonly maxTableSize: number;
  // The table size the encoder chose with its last size update (at most maxTableSize).
  private limit: number;
  private size = 0;
  // A ring of entries, newest at head; it has room for the most entries maxTableSize can hold (32 octets each at least).
  private readonly names: string[];
  private readonly values: string[];
  private readonly mask: number;
  private head = 0;
  private count = 0;
  // Read position in the block being decoded.
  private pos = 0;

  constructor(maxTableSize = 4096) {
    this.maxTableSize = maxTableSize;
    this.limit = maxTableSize;
    let capacity = 1;
    while (capacity < maxTableSize / 32) capacity *= 2;
    this.names = new Array<string>(capacity).fill("");
    this.values = new Array<string>(capacity).fill("");
    this.mask = capacity - 1;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads already joined, padding and priority removed).
   * Calls onField(name, value) for each field in order. Keeps the dynamic table in sync even when the list is too large:
   * returns false (having decoded the whole block but having stopped calling onField) once the header list size
   * (sum of name.length + value.length + 32 per field, RFC 9113 §6.5.2) exceeds maxListBytes; true otherwise.
   * Throws HpackError for any malformed input.
   */
  decode(block: Uint8Array, maxListBytes: number, onField: (name: string, value: string) => void): boolean {
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    let listBytes = 0;
    let sawField = false;
    this.pos = 0;
    while (this.pos < buf.length) {
      const first = buf[this.pos];
      let name: string;
      let value: string;
      if (first & 0x80) {
        const index = this.int(buf, 0x7f);
        if (index === 0) throw new HpackError("index 0");
        name = this.nameAt(index);
        value = index <= STATIC_COUNT ? STATIC_VALUES[index - 1] : this.values[this.slot(index)];
      } else if (first & 0x40) {
        const index = this.int(buf, 0x3f);
        name = index === 0 ? this.string(buf) : this.nameAt(index);
        value = this.string(buf);
        this.insert(name, value);
      } else if (first & 0x20) {
        if (sawField) throw new HpackError("dynamic table size update after a field");
        const size = this.int(buf, 0x1f);
        if (size > this.maxTableSize) throw new HpackError(`dynamic table size update to ${size}, above ${this.maxTableSize}`);
        this.limit = size;
        this.evict(size);
        continue;
      } else {
        // Without indexing (0000) or never indexed (0001): the same to a decoder.
        const index = this.int(buf, 0x0f);
        name = index === 0 ? this.string(buf) : this.nameAt(index);
        value = this.string(buf);
      }
      sawField = true;
      if (listBytes <= maxListBytes) {
        listBytes += name.length + value.length + 32;
        if (listBytes <= maxListBytes) onField(name, value);
      }
    }
    return listBytes <= maxListBytes;
  }

  /** An integer with an N-bit prefix (mask = 2^N - 1) at pos, which the caller knows is in the block. */
  private int(buf: Buffer, mask: number): number {
    const value = buf[this.pos++] & mask;
    if (value < mask) return value;
    let rest = 0;
    // Five continuation octets carry 35 bits, past MAX_INT: more can only be padding or an overflow.
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.pos >= buf.length) throw new HpackError("truncated integer");
      const octet = buf[this.pos++];
      rest += (octet & 0x7f) * 2 ** shift;
      if ((octet & 0x80) === 0) {
        if (value + rest > MAX_INT) throw new HpackError("integer overflow");
        return value + rest;
      }
    }
    throw new HpackError("integer overflow");
  }

  private string(buf: Buffer): string {
    if (this.pos >= buf.length) throw new HpackError("truncated string");
    const huffman = (buf[this.pos] & 0x80) !== 0;
    const length = this.int(buf, 0x7f);
    const start = this.pos;
    if (length > buf.length - start) throw new HpackError("string past the end of the block");
    this.pos = start + length;
    return huffman ? huffmanString(buf, start, this.pos) : buf.toString("latin1", start, this.pos);
  }

  /** The name at a non-zero index. */
  private nameAt(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index - 1] : this.names[this.slot(index)];
  }

  /** The ring slot of a dynamic table index. */
  private slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count) throw new HpackError(`index ${index} out of range`);
    return (this.head - age) & this.mask;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    // RFC 7541 §4.4: evict first; an entry larger than the table just empties it.
    this.evict(this.limit - size);
    if (size > this.limit) return;
    this.head = (this.head + 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += size;
  }

  /** Evicts the oldest entries until the table's size is at most target. */
  private evict(target: number): void {
    while (this.count > 0 && this.size > target) {
      const oldest = (this.head - this.count + 1) & this.mask;
      this.size -= this.names[oldest].length + this.values[oldest].length + 32;
      // Let the strings go now rather than when the slot is reused.
      this.names[oldest] = this.values[oldest] = "";
      this.count--;
    }
  }
}

// For the encoder: a static name's first index, and the index of each of its exact entries.
const STATIC_BY_NAME = new Map<string, { index: number; values: Map<string, number> }>();
STATIC_TABLE.forEach(([name, value], i) => {
  let entry = STATIC_BY_NAME.get(name);
  if (!entry) STATIC_BY_NAME.set(name, (entry = { index: i + 1, values: new Map() }));
  entry.values.set(value, i + 1);
});

// The most octets a field takes besides its name and value: a representation octet and two 6-octet string lengths.
const FIELD_OVERHEAD = 13;

export class HpackEncoder {
  /**
   * Encodes fields as literals without indexing (static-table name index where the name is in the static table, exact static
   * entries like ":status: 200" as indexed fields). It never adds to the dynamic table, so its blocks do not depend on what was
   * sent before (the connection starts its first block with a dynamic table size update to 0, see connection.ts).
   * No Huffman coding on output. Names must already be lower case.
   */
  encode(fields: ReadonlyArray<readonly [string, string]>): Buffer {
    let bound = 0;
    for (let i = 0; i < fields.length; i++) bound += fields[i][0].length + fields[i][1].length + FIELD_OVERHEAD;
    const out = Buffer.allocUnsafe(bound);
    let p = 0;
    for (let i = 0; i < fields.length; i++) {
      const name = fields[i][0];
      const value = fields[i][1];
      const known = STATIC_BY_NAME.get(name);
      if (known === undefined) {
        out[p++] = 0;
        p = writeString(out, p, name);
      } else {
        const exact = known.values.get(value);
        if (exact !== undefined) {
          p = writeInt(out, p, exact, 0x7f, 0x80);
          continue;
        }
        p = writeInt(out, p, known.index, 0x0f, 0);
      }
      p = writeString(out, p, value);
    }
    return out.subarray(0, p);
  }
}

/** Writes value with an N-bit prefix (mask = 2^N - 1) under the representation bits in flags; returns the new position. */
function writeInt(out: Buffer, p: number, value: number, mask: number, flags: number): number {
  if (value < mask) {
    out[p++] = flags | value;
    return p;
  }
  out[p++] = flags | mask;
  for (value -= mask; value >= 0x80; value >>>= 7) out[p++] = (value & 0x7f) | 0x80;
  out[p++] = value;
  return p;
}

/** Writes s as a string literal without Huffman coding, one octet per char (latin1). */
function writeString(out: Buffer, p: number, s: string): number {
  p = writeInt(out, p, s.length, 0x7f, 0);
  for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i);
  return p;
}
