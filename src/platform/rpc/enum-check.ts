// Refuses enum numbers the contract does not define. Protobuf keeps an unknown number of an
// open enum as it is, so without this check `optimizer: 7` would reach the services.
// Each request type is walked once, when a service is bound; requests without enum fields
// get no check at all.
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { listSome, quote } from "../errors.js";

/** Throws INVALID_ARGUMENT naming the first field that holds an undefined enum number. */
export type EnumCheck = (message: object) => void;

/** The check for one request type, or undefined when no enum field is reachable from it. */
export function enumCheckFor(desc: DescMessage): EnumCheck | undefined {
  const walker = walkerFor(desc, new Map(), reachingEnums(desc));
  if (!walker) return undefined;
  return (message) => {
    const bad = walker(message as Record<string, unknown>, "");
    if (bad) throw bad;
  };
}

/** Returns the violation at or below `message`, with `path` naming where the message sits. */
type Walker = (message: Record<string, unknown>, path: string) => ConnectError | undefined;

// Well-known types are skipped: protobuf-es represents Struct, Value and the wrappers as plain
// JSON or scalars, and their one enum (NullValue) only ever means null.
const isWellKnown = (desc: DescMessage) => desc.typeName.startsWith("google.protobuf.");

/** The message types from which an enum field can be reached (a fixed point: types may nest themselves). */
function reachingEnums(root: DescMessage): Set<DescMessage> {
  const all = new Set<DescMessage>();
  const collect = (d: DescMessage) => {
    if (all.has(d) || isWellKnown(d)) return;
    all.add(d);
    for (const f of d.fields) {
      const m = messageOf(f);
      if (m) collect(m);
    }
  };
  collect(root);
  const reaching = new Set<DescMessage>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of all) {
      if (reaching.has(d)) continue;
      if (d.fields.some((f) => enumOf(f) !== undefined || (messageOf(f) !== undefined && reaching.has(messageOf(f)!)))) {
        reaching.add(d);
        changed = true;
      }
    }
  }
  return reaching;
}

function enumOf(f: DescField): DescEnum | undefined {
  if (f.fieldKind === "enum") return f.enum;
  if (f.fieldKind === "list" && f.listKind === "enum") return f.enum;
  if (f.fieldKind === "map" && f.mapKind === "enum") return f.enum;
  return undefined;
}

function messageOf(f: DescField): DescMessage | undefined {
  if (f.fieldKind === "message") return f.message;
  if (f.fieldKind === "list" && f.listKind === "message") return f.message;
  if (f.fieldKind === "map" && f.mapKind === "message") return f.message;
  return undefined;
}

function walkerFor(desc: DescMessage, walkers: Map<DescMessage, Walker>, reaching: ReadonlySet<DescMessage>): Walker | undefined {
  if (!reaching.has(desc)) return undefined;
  const known = walkers.get(desc);
  if (known) return known;
  const steps: Walker[] = [];
  const walker: Walker = (message, path) => {
    for (const step of steps) {
      const bad = step(message, path);
      if (bad) return bad;
    }
    return undefined;
  };
  walkers.set(desc, walker); // before the fields: a type may contain itself
  for (const f of desc.fields) {
    const e = enumOf(f);
    const m = messageOf(f);
    const inner = m ? walkerFor(m, walkers, reaching) : undefined;
    if (e) steps.push(fieldStep(f, enumValueStep(e)));
    else if (inner) steps.push(fieldStep(f, (value, path) => inner(value as Record<string, unknown>, path)));
  }
  return walker;
}

type ValueStep = (value: unknown, path: string) => ConnectError | undefined;

function enumValueStep(e: DescEnum): ValueStep {
  const defined = new Set(e.values.map((v) => v.number));
  return (value, path) => (defined.has(value as number) ? undefined : undefinedEnum(e, path, value as number));
}

/** Reads field `f` (a oneof member only when it is the set case) and applies `each` to its value(s). */
function fieldStep(f: DescField, each: ValueStep): Walker {
  const name = f.name;
  const read: (message: Record<string, unknown>) => unknown = f.oneof
    ? ((oneof: string, member: string) => (message) => {
        const o = message[oneof] as { case?: string; value?: unknown } | undefined;
        return o?.case === member ? o.value : undefined;
      })(f.oneof.localName, f.localName)
    : ((local: string) => (message) => message[local])(f.localName);
  const at = (path: string) => (path ? `${path}.${name}` : name);
  switch (f.fieldKind) {
    case "list":
      return (message, path) => {
        const items = read(message) as readonly unknown[] | undefined;
        if (!items) return undefined;
        for (let i = 0; i < items.length; i++) {
          const bad = each(items[i], `${at(path)}[${i}]`);
          if (bad) return bad;
        }
        return undefined;
      };
    case "map":
      return (message, path) => {
        const entries = read(message) as Record<string, unknown> | undefined;
        if (!entries) return undefined;
        for (const key of Object.keys(entries)) {
          const bad = each(entries[key], `${at(path)}[${JSON.stringify(quote(key))}]`);
          if (bad) return bad;
        }
        return undefined;
      };
    default:
      return (message, path) => {
        const value = read(message);
        return value === undefined ? undefined : each(value, at(path));
      };
  }
}

function undefinedEnum(e: DescEnum, path: string, value: number): ConnectError {
  const defined = listSome(e.values.map((v) => `${v.number} (${v.name})`));
  return new ConnectError(`${path}: ${value} is not a value of ${e.typeName}; it defines ${defined}`, Code.InvalidArgument);
}
