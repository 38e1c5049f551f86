// Hostile requests built from the contract: every service in gen/, every method, and for each
// method request bodies that are random, truncated, oversized, or structurally valid messages
// whose fields hold hostile values (NaN and Inf, undefined enum numbers, huge and malicious
// strings, invalid UTF-8, deep nesting). A seeded PRNG makes a run repeatable.
import { readdirSync } from "node:fs";
import path from "node:path";
import { create, toBinary, ScalarType, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { envelope, type RawCall, type StreamKind } from "../support/raw-rpc.js";

/** A small, fast, seeded PRNG (mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** Every service the generated code in gen/ declares (so new services and methods are fuzzed without a change here). */
export async function contractServices(genDir: string): Promise<DescService[]> {
  const files = readdirSync(genDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("_pb.ts"));
  const services = new Map<string, DescService>();
  for (const f of files.sort()) {
    const mod = (await import(path.join(genDir, f))) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      if (value && typeof value === "object" && (value as { kind?: unknown }).kind === "service") services.set((value as DescService).typeName, value as DescService);
    }
  }
  return [...services.values()];
}

export const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "..",
  "../../../../etc/passwd",
  "..\\..\\windows\\system32",
  "/absolute/path",
  "a/b",
  "%2e%2e%2f%2e%2e%2f",
  "name\u0000with-nul",
  "\u0000",
  "CON",
  "nul.txt",
  "-rf",
  "$(reboot)",
  "`id`",
  "'; DROP TABLE models; --",
  "{{ secret }}",
  "${process.env}",
  "<script>alert(1)</script>",
  "\u202eevil\u202c",
  "\ud800", // a lone surrogate: not encodable as UTF-8
  "emoji🔥\u{1F600}",
  "x".repeat(300),
  "registry:../../x@1",
  "http://169.254.169.254/latest/meta-data/",
  "file:///etc/shadow",
  "__proto__",
  "constructor",
  "*",
  "?",
  "\r\nX-Injected: 1",
];

const NUMBERS: readonly number[] = [0, -1, 1, NaN, Infinity, -Infinity, 1e308, -1e308, 5e-324, 2 ** 31, -(2 ** 31), 2 ** 53, 0.5];
const BIGINTS: readonly bigint[] = [0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n];
const UNSIGNED: readonly bigint[] = [0n, 1n, 2n ** 64n - 1n, 2n ** 32n];

export interface FuzzLimits {
  /** The server's server.maxMessageBytes. */
  readonly maxMessageBytes: number;
}

/** A hostile string: from the list, huge, or random characters. */
function hostileString(rng: Rng, limits: FuzzLimits): string {
  const r = rng.next();
  if (r < 0.7) return rng.pick(HOSTILE_STRINGS);
  if (r < 0.8) return "y".repeat(Math.floor(limits.maxMessageBytes / 8)); // huge, but under the message limit
  let s = "";
  const n = rng.int(40);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.int(0x3000));
  return s;
}

function scalarValue(rng: Rng, type: ScalarType, limits: FuzzLimits): unknown {
  switch (type) {
    case ScalarType.STRING:
      return hostileString(rng, limits);
    case ScalarType.BYTES:
      return rng.bytes(rng.int(64));
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return rng.pick(NUMBERS);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return rng.pick(BIGINTS);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return rng.pick(UNSIGNED);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return rng.pick([0, 1, 4294967295, 2 ** 31]);
    default:
      return rng.pick([0, -1, 1, 2147483647, -2147483648]);
  }
}

function enumValue(rng: Rng, field: { enum: { values: readonly { number: number }[] } }): number {
  // Mostly defined values, often an undefined one.
  return rng.chance(0.4) ? rng.pick([7, 99, -1, 2147483647]) : rng.pick(field.enum.values).number;
}

/** A field's value, or undefined to leave it unset. */
function fieldValue(rng: Rng, field: DescField, depth: number, limits: FuzzLimits): unknown {
  const one = (): unknown => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarValue(rng, field.scalar, limits);
      case "enum":
        return enumValue(rng, field);
      case "message":
        return depth > 4 ? undefined : hostileInit(rng, field.message, depth + 1, limits);
      case "list":
        if (field.listKind === "scalar") return scalarValue(rng, field.scalar, limits);
        if (field.listKind === "enum") return enumValue(rng, field);
        return depth > 4 ? undefined : hostileInit(rng, field.message, depth + 1, limits);
      case "map":
        return undefined;
    }
  };
  if (field.fieldKind === "list") {
    const n = rng.int(4);
    const items = [];
    for (let i = 0; i < n; i++) {
      const v = one();
      if (v !== undefined) items.push(v);
    }
    return items;
  }
  if (field.fieldKind === "map") {
    const out: Record<string, unknown> = {};
    const n = rng.int(3);
    for (let i = 0; i < n; i++) {
      const key = field.mapKey === ScalarType.STRING ? hostileString(rng, limits).slice(0, 200) : String(rng.int(100));
      const v =
        field.mapKind === "scalar"
          ? scalarValue(rng, field.scalar, limits)
          : field.mapKind === "enum"
            ? enumValue(rng, field)
            : depth > 4
              ? undefined
              : create(field.message, hostileInit(rng, field.message, depth + 1, limits) as never);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }
  return one();
}

/** An init object for `create(schema, init)`: some fields set, each to a hostile value. */
export function hostileInit(rng: Rng, schema: DescMessage, depth: number, limits: FuzzLimits): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const member of schema.members) {
    if (!rng.chance(depth === 0 ? 0.7 : 0.4)) continue;
    if (member.kind === "oneof") {
      const field = rng.pick(member.fields);
      const value = fieldValue(rng, field, depth, limits);
      if (value !== undefined) init[member.localName] = { case: field.localName, value };
      continue;
    }
    const value = fieldValue(rng, member, depth, limits);
    if (value !== undefined) init[member.localName] = value;
  }
  return init;
}

/** A structurally valid message of `schema`, encoded, with hostile field values. */
export function hostileMessage(rng: Rng, schema: DescMessage, limits: FuzzLimits): Buffer {
  // Under the message limit (oversized messages are a mutation of their own).
  let bytes = Buffer.from(toBinary(schema, create(schema, hostileInit(rng, schema, 0, limits) as never)));
  for (let i = 0; i < 5 && bytes.length > limits.maxMessageBytes / 2; i++) {
    bytes = Buffer.from(toBinary(schema, create(schema, hostileInit(rng, schema, 0, limits) as never)));
  }
  if (bytes.length > limits.maxMessageBytes / 2) bytes = Buffer.from(toBinary(schema, create(schema)));
  // Invalid UTF-8 appended as an extra occurrence of a string field (the last one wins).
  const strings = schema.fields.filter((f) => (f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING);
  if (strings.length > 0 && rng.chance(0.2)) {
    const f = rng.pick(strings);
    const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
    return Buffer.concat([bytes, varint((f.number << 3) | 2), varint(bad.length), bad]);
  }
  return bytes;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** `depth` nested groups of an unknown field. */
export function nestedGroups(depth: number): Buffer {
  return Buffer.concat([Buffer.alloc(depth, (15 << 3) | 3), Buffer.alloc(depth, (15 << 3) | 4)]);
}

export const MUTATIONS = [
  "hostile message",
  "random bytes",
  "truncated message",
  "nested groups",
  "oversized message",
  "truncated frame",
  "lying frame length",
  "bad later message",
  "compressed flag without encoding",
  "undecompressable body",
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface FuzzCall extends RawCall {
  readonly method: DescMethod;
  readonly mutation: Mutation;
}

/** One hostile call to `method`. */
export function hostileCall(rng: Rng, method: DescMethod, limits: FuzzLimits, enveloped: boolean): FuzzCall {
  const kind = method.methodKind as StreamKind;
  const streaming = kind === "client_streaming" || kind === "bidi_streaming";
  const path = `/${method.parent.typeName}/${method.name}`;
  const valid = () => hostileMessage(rng, method.input, limits);
  let mutation = rng.pick(MUTATIONS);
  if (mutation === "bad later message" && !streaming) mutation = "hostile message";
  if ((mutation === "truncated frame" || mutation === "lying frame length" || mutation === "compressed flag without encoding") && !enveloped) mutation = "truncated message";
  // Server streams may run until the client leaves (Health/Watch): a short deadline ends them.
  const timeoutMs = kind === "server_streaming" ? 500 : 10_000;
  const call = (m: Partial<RawCall>): FuzzCall => ({ path, kind, method, mutation, timeoutMs, ...m });
  switch (mutation) {
    case "hostile message": {
      const n = streaming ? 1 + rng.int(3) : 1;
      return call({ messages: Array.from({ length: n }, valid) });
    }
    case "random bytes":
      return call({ messages: [rng.bytes(1 + rng.int(64))] });
    case "truncated message": {
      const m = valid();
      return call({ messages: [m.subarray(0, Math.max(1, rng.int(m.length)))] });
    }
    case "nested groups":
      return call({ messages: [nestedGroups(rng.pick([200, 20_000]))] });
    case "oversized message":
      return call({ messages: [Buffer.alloc(limits.maxMessageBytes + 1 + rng.int(1024), 0x00)] });
    case "truncated frame": {
      const frame = envelope(valid());
      return call({ body: frame.subarray(0, rng.int(frame.length)) });
    }
    case "lying frame length": {
      const frame = envelope(valid());
      frame.writeUInt32BE(rng.pick([frame.length + 100, 0x7fffffff, 0xffffffff]), 1);
      return call({ body: frame });
    }
    case "bad later message":
      return call({ messages: [valid(), rng.pick([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), nestedGroups(20_000), rng.bytes(16)])] });
    case "compressed flag without encoding":
      return call({ body: envelope(valid(), 0x01) });
    case "undecompressable body": {
      // Each protocol's own header: the server must refuse the garbage, not fail on it.
      const headers = { "grpc-encoding": "gzip", "connect-content-encoding": "gzip", "content-encoding": "gzip" };
      return enveloped ? call({ body: envelope(rng.bytes(32), 0x01), headers }) : call({ messages: [rng.bytes(32)], headers });
    }
  }
}
