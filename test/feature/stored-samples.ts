// Entities to encode and read back in the stored-bytes tests: edge values of every kind,
// and random entities from a seed (the same every run).
import type { Features, Value } from "../../src/feature/value.js";

export const edgeValues: Features = new Map<string, Value>([
  ["d", { type: "double", value: -0 }],
  ["zero", { type: "double", value: 0 }],
  ["nan", { type: "double", value: Number.NaN }],
  ["inf", { type: "double", value: Number.NEGATIVE_INFINITY }],
  ["tiny", { type: "double", value: 5e-324 }],
  ["i", { type: "int64", value: -(2n ** 63n) }],
  ["imax", { type: "int64", value: 2n ** 63n - 1n }],
  ["i0", { type: "int64", value: 0n }],
  ["i49", { type: "int64", value: 2n ** 49n }],
  ["s", { type: "string", value: "ünï 😀 \u0000" }],
  ["long", { type: "string", value: "x".repeat(200) + "é" }],
  ["empty", { type: "string", value: "" }],
  ["b", { type: "bool", value: false }],
  ["t", { type: "bool", value: true }],
  ["dl", { type: "double_list", value: [1.5, -2, 1e308, 5e-324, Number.NaN, -0] }],
  ["il", { type: "int64_list", value: [2n ** 63n - 1n, 0n, -1n, -(2n ** 63n), 127n, 128n] }],
  ["sl", { type: "string_list", value: ["", "a", "😀", "y".repeat(40)] }],
  ["bl", { type: "bool_list", value: [true, false] }],
  ["none", { type: "double_list", value: [] }],
  ["noints", { type: "int64_list", value: [] }],
  ["nostrings", { type: "string_list", value: [] }],
  ["nobools", { type: "bool_list", value: [] }],
  // Integer-like names come first in a JS object, whatever the stored order.
  ["7", { type: "bool", value: true }],
  ["", { type: "string", value: "unnamed" }],
  ["名前", { type: "int64", value: 3n }],
]);

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ["a", "b", "z", "0", "_", "é", "ß", "中", "😀", "\u0000", " "];

export function randomFeatures(seed: number): Features {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const text = (max: number) => Array.from({ length: int(max + 1) }, () => ALPHABET[int(ALPHABET.length)]).join("");
  const double = () => [0, -0, Number.NaN, Infinity, 1e-310][int(10)] ?? (next() - 0.5) * 10 ** int(300);
  const int64 = () => BigInt.asIntN(64, BigInt(Math.floor(next() * 2 ** 32)) * BigInt(Math.floor(next() * 2 ** 32)) * (next() < 0.5 ? -1n : 1n) >> BigInt(int(64)));
  const length = () => [0, 1, 16, 200][int(4)];
  const out: Features = new Map();
  const count = int(20);
  for (let i = 0; i < count; i++) {
    const name = next() < 0.1 ? String(int(100)) : `${text(6)}${i}`;
    let v: Value;
    switch (int(8)) {
      case 0:
        v = { type: "double", value: double() };
        break;
      case 1:
        v = { type: "int64", value: int64() };
        break;
      case 2:
        v = { type: "string", value: text(50) };
        break;
      case 3:
        v = { type: "bool", value: next() < 0.5 };
        break;
      case 4:
        v = { type: "double_list", value: Array.from({ length: length() }, double) };
        break;
      case 5:
        v = { type: "int64_list", value: Array.from({ length: length() }, int64) };
        break;
      case 6:
        v = { type: "string_list", value: Array.from({ length: int(5) }, () => text(40)) };
        break;
      default:
        v = { type: "bool_list", value: Array.from({ length: length() }, () => next() < 0.5) };
    }
    out.set(name, v);
  }
  return out;
}
