// The HPACK codec against hpack.js as an oracle, the RFC 7541 Appendix C examples, and malformed input.
import { describe, it, expect } from "vitest";
import hpack from "hpack.js";
import { HpackDecoder, HpackEncoder, HpackError } from "../../../src/platform/grpc/h2/hpack.js";

type Field = readonly [string, string];

// The part of hpack.js these tests use (src/types/hpack.d.ts declares only what src needs).
interface OracleHeader {
  name: string;
  value: string;
  huffman?: boolean;
  incremental?: boolean;
  neverIndex?: boolean;
}
interface Oracle {
  compressor: {
    create(options: { table: { maxSize: number } }): {
      write(headers: OracleHeader[]): void;
      read(): Buffer | null;
      updateTableSize(size: number): void;
      reset(): void;
    };
  };
  decompressor: {
    create(options: { table: { maxSize: number } }): { write(block: Buffer): void; execute(): void; read(): OracleHeader | null };
  };
}
const oracle = hpack as unknown as Oracle;

function compressor(maxSize: number) {
  const c = oracle.compressor.create({ table: { maxSize } });
  let prefix = Buffer.alloc(0);
  return {
    /** Shrinks or grows the table; the next block starts with the size update. */
    updateTableSize(size: number): void {
      // hpack.js writes the update only for sizes at its maximum, so drop what it writes and write our own.
      c.updateTableSize(size);
      c.read();
      prefix = Buffer.concat([prefix, sizeUpdate(size)]);
    },
    /** Empties the table with two size updates, to 0 and back. */
    reset: () => c.reset(),
    block(headers: OracleHeader[]): Buffer {
      c.write(headers);
      const block = Buffer.concat([prefix, c.read() ?? Buffer.alloc(0)]);
      prefix = Buffer.alloc(0);
      return block;
    },
  };
}

function sizeUpdate(size: number): Buffer {
  if (size < 31) return Buffer.from([0x20 | size]);
  const out = [0x3f];
  for (size -= 31; size >= 0x80; size >>>= 7) out.push((size & 0x7f) | 0x80);
  out.push(size);
  return Buffer.from(out);
}

function oracleDecompressor(maxSize: number) {
  const d = oracle.decompressor.create({ table: { maxSize } });
  return (block: Buffer): Field[] => {
    d.write(block);
    d.execute();
    const out: Field[] = [];
    for (let h = d.read(); h; h = d.read()) out.push([h.name, h.value]);
    return out;
  };
}

function decodeAll(decoder: HpackDecoder, block: Uint8Array, maxListBytes = 1 << 20): Field[] {
  const out: Field[] = [];
  expect(decoder.decode(block, maxListBytes, (name, value) => out.push([name, value]))).toBe(true);
  return out;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// A deterministic PRNG so failures reproduce.
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function latin1(rand: () => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += String.fromCharCode(Math.floor(rand() * 256));
  return s;
}

const NAMES = [":method", ":path", ":authority", "content-type", "user-agent", "te", "grpc-timeout", "x-request-id", "authorization", "x-trace-bin"];

/** Header lists that repeat names and values across blocks, so the dynamic table is hit and evicted. */
function randomBlocks(seed: number, blocks: number): OracleHeader[][] {
  const rand = random(seed);
  const pool = NAMES.map((name) => [name, latin1(rand, 3), latin1(rand, 20)]);
  const out: OracleHeader[][] = [];
  for (let b = 0; b < blocks; b++) {
    const headers: OracleHeader[] = [];
    const n = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) {
      const [name, ...values] = pool[Math.floor(rand() * pool.length)];
      const r = rand();
      const value = r < 0.6 ? values[Math.floor(rand() * values.length)] : latin1(rand, r < 0.95 ? Math.floor(rand() * 40) : 300);
      const newName = rand() < 0.1 ? `x-${latin1(rand, 4).replace(/[^a-z]/g, "q")}` : name;
      headers.push({ name: newName, value, huffman: rand() < 0.5, incremental: rand() < 0.8, neverIndex: rand() < 0.05 });
    }
    out.push(headers);
  }
  return out;
}

const fieldsOf = (headers: OracleHeader[]): Field[] => headers.map((h) => [h.name, h.value]);

describe("HpackDecoder against hpack.js", () => {
  for (const maxSize of [4096, 256, 64]) {
    it(`decodes blocks with a ${maxSize}-octet dynamic table`, () => {
      const compress = compressor(maxSize);
      const decoder = new HpackDecoder(maxSize);
      for (const headers of randomBlocks(maxSize, 300)) {
        expect(decodeAll(decoder, compress.block(headers))).toEqual(fieldsOf(headers));
      }
    });
  }

  it("follows dynamic table size updates", () => {
    const compress = compressor(4096);
    const decoder = new HpackDecoder(4096);
    const blocks = randomBlocks(7, 200);
    blocks.forEach((headers, i) => {
      if (i % 10 === 5) compress.updateTableSize([0, 100, 4096, 300, 40][(i / 10) % 5 | 0]);
      if (i % 10 === 5 && i % 20 === 15) compress.updateTableSize(200);
      if (i % 50 === 49) compress.reset();
      expect(decodeAll(decoder, compress.block(headers))).toEqual(fieldsOf(headers));
    });
  });

  it("decodes every octet with and without Huffman coding", () => {
    const compress = compressor(4096);
    const decoder = new HpackDecoder();
    for (const huffman of [true, false]) {
      for (let c = 0; c < 256; c++) {
        const headers = [{ name: "x-octet", value: String.fromCharCode(c), huffman, incremental: false }];
        expect(decodeAll(decoder, compress.block(headers))).toEqual(fieldsOf(headers));
      }
      let all = "";
      for (let c = 0; c < 256; c++) all += String.fromCharCode(c, 255 - c, c);
      const headers = [{ name: "x-all", value: all, huffman, incremental: false }];
      expect(decodeAll(decoder, compress.block(headers))).toEqual(fieldsOf(headers));
    }
  });

  it("accepts a Uint8Array that is not a Buffer", () => {
    const block = compressor(4096).block([{ name: "content-type", value: "application/grpc" }]);
    expect(decodeAll(new HpackDecoder(), new Uint8Array(block))).toEqual([["content-type", "application/grpc"]]);
  });
});

describe("RFC 7541 Appendix C", () => {
  const requests: Field[][] = [
    [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ],
    [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ],
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  ];

  it("C.3: requests without Huffman coding", () => {
    const decoder = new HpackDecoder();
    const blocks = [
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    blocks.forEach((block, i) => expect(decodeAll(decoder, hex(block))).toEqual(requests[i]));
  });

  it("C.4: requests with Huffman coding", () => {
    const decoder = new HpackDecoder();
    const blocks = [
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
      "8286 84be 5886 a8eb 1064 9cbf",
      "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];
    blocks.forEach((block, i) => expect(decodeAll(decoder, hex(block))).toEqual(requests[i]));
  });
});

describe("HpackDecoder on malformed input", () => {
  // [what, block, and for integers the message, since an index or length that large fails later checks too].
  const cases: [string, string, RegExp?][] = [
    ["a truncated integer", "ff"],
    ["an integer with a truncated continuation", "ff 80"],
    ["an integer over 2^32", "ff ff ff ff ff 7f", /overflow/],
    ["an integer with too many continuation octets", "ff 80 80 80 80 80 00", /overflow/],
    ["index 0", "80"],
    ["an indexed field past the static table", "be"],
    ["a literal whose name index is past the table", "7e 01 61"],
    ["a string length past the end", "00 05 61"],
    ["a missing value", "00 01 61"],
    ["EOS at the end of a Huffman string", "00 85 1f ff ff ff ff 00"],
    ["EOS within a Huffman string", "00 85 ff ff ff fc 7f 00"],
    ["Huffman padding that is not all ones", "00 81 18 00"],
    ["Huffman padding longer than 7 bits", "00 82 1f ff 00"],
    ["8 bits of Huffman padding", "00 82 f8 ff 00"],
    ["a size update above the limit", "3f e2 1f"],
    ["a size update after a field", "82 20"],
  ];
  for (const [what, block, message] of cases) {
    it(`throws HpackError on ${what}`, () => {
      const decode = () => new HpackDecoder().decode(hex(block), 1 << 20, () => {});
      expect(decode).toThrow(HpackError);
      if (message) expect(decode).toThrow(message);
    });
  }

  it("accepts what sits just inside those limits", () => {
    // 'a' with 3 bits of padding, '&' (8 bits) with none; size updates at the start of a block up to the limit.
    expect(decodeAll(new HpackDecoder(), hex("00 81 1f 00"))).toEqual([["a", ""]]);
    expect(decodeAll(new HpackDecoder(), hex("00 81 f8 00"))).toEqual([["&", ""]]);
    expect(decodeAll(new HpackDecoder(), hex("20 3f e1 1f 82"))).toEqual([[":method", "GET"]]);
    expect(decodeAll(new HpackDecoder(), hex(""))).toEqual([]);
  });
});

describe("HpackDecoder dynamic table", () => {
  // A literal with incremental indexing and a new name, and an indexed field.
  const add = (name: string, value: string) => Buffer.from([0x40, name.length, ...Buffer.from(name), value.length, ...Buffer.from(value)]);
  const ref = (index: number) => Buffer.from([0x80 | index]);
  const decodes = (decoder: HpackDecoder, block: Buffer, fields: Field[]) => expect(decodeAll(decoder, block)).toEqual(fields);
  const refuses = (decoder: HpackDecoder, block: Buffer) => expect(() => decoder.decode(block, 1 << 20, () => {})).toThrow(HpackError);

  it("evicts as RFC 7541 §4.4 says", () => {
    const decoder = new HpackDecoder(100);
    // Entries of 34 octets: three do not fit in 100, so adding the third evicts the first.
    decodes(decoder, Buffer.concat([add("a", "1"), add("b", "2"), ref(62), ref(63)]), [["a", "1"], ["b", "2"], ["b", "2"], ["a", "1"]]);
    decodes(decoder, Buffer.concat([add("c", "3"), ref(62), ref(63)]), [["c", "3"], ["c", "3"], ["b", "2"]]);
    refuses(decoder, ref(64));
    // A size update to 40 keeps one entry, and later additions stay within it.
    decodes(decoder, Buffer.concat([sizeUpdate(40), ref(62)]), [["c", "3"]]);
    refuses(decoder, ref(63));
    decodes(decoder, Buffer.concat([add("d", "4"), ref(62)]), [["d", "4"], ["d", "4"]]);
    refuses(decoder, ref(63));
    // An entry larger than the table empties it.
    decodes(decoder, add("e", "12345678"), [["e", "12345678"]]);
    refuses(decoder, ref(62));
    decodes(decoder, Buffer.concat([sizeUpdate(100), add("f", "6"), add("g", "7"), ref(63)]), [["f", "6"], ["g", "7"], ["f", "6"]]);
  });
});

describe("HpackDecoder header list limit", () => {
  it("stops calling onField past the limit but keeps the table in sync", () => {
    const compress = compressor(4096);
    const decoder = new HpackDecoder();
    const big = "v".repeat(200);
    const first = compress.block([
      { name: "x-small", value: "1" },
      { name: "x-big", value: big },
      { name: "x-after", value: "2" },
    ]);
    const seen: Field[] = [];
    expect(decoder.decode(first, 100, (name, value) => seen.push([name, value]))).toBe(false);
    expect(seen).toEqual([["x-small", "1"]]);
    // The next block refers to all three entries the first added.
    const second = compress.block([
      { name: "x-after", value: "2" },
      { name: "x-big", value: big },
      { name: "x-small", value: "1" },
    ]);
    expect(second.length).toBe(3);
    expect(decodeAll(decoder, second)).toEqual([
      ["x-after", "2"],
      ["x-big", big],
      ["x-small", "1"],
    ]);
  });

  it("counts 32 octets per field", () => {
    const block = hex("82 84"); // :method GET (42 octets), :path / (38 octets)
    expect(new HpackDecoder().decode(block, 80, () => {})).toBe(true);
    expect(new HpackDecoder().decode(block, 79, () => {})).toBe(false);
  });
});

describe("HpackEncoder", () => {
  it("writes blocks hpack.js decodes to the same fields", () => {
    const encoder = new HpackEncoder();
    const decompress = oracleDecompressor(4096);
    const ours = new HpackDecoder();
    const rand = random(42);
    const lists: Field[][] = [
      [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-accept-encoding", "identity,gzip"],
      ],
      [
        ["grpc-status", "0"],
        ["grpc-message", ""],
      ],
      [
        [":status", "404"],
        [":authority", ""],
        ["accept-encoding", "gzip, deflate"],
        ["accept-encoding", "gzip"],
        ["x-latin1", "caf\xe9 \xff\x00"],
        ["x-long-value", "y".repeat(5000)],
        ["x-".padEnd(300, "n"), latin1(rand, 127)],
        ["x-bin", latin1(rand, 128)],
      ],
      [],
    ];
    for (const fields of lists) {
      const block = encoder.encode(fields);
      expect(decompress(block)).toEqual(fields);
      expect(decodeAll(ours, block)).toEqual(fields);
    }
  });

  it("writes the same bytes for the same fields whatever it encoded before", () => {
    const encoder = new HpackEncoder();
    expect([...encoder.encode([[":status", "200"]])]).toEqual([0x88]);
    expect([...encoder.encode([[":status", "200"]])]).toEqual([0x88]);
    // A static name's index, then the value as a plain literal.
    expect([...encoder.encode([["content-type", "a"]])]).toEqual([0x0f, 0x10, 0x01, 0x61]);
    expect([...encoder.encode([["te", "x"]])]).toEqual([0x00, 0x02, 0x74, 0x65, 0x01, 0x78]);
  });
});
