// Decoders for the feature reads' requests, whose fields are all strings (a set, entity keys,
// feature names), for transports that hand us the bytes (gRPC). protobuf-es reads each short
// string through an array of char codes: for a 100-key BatchGetFeatures that is about 19 KB of
// garbage per call, a quarter of what the call allocates (BENCHMARKS.md, feature section).
// Here a string is one native slice of the request bytes. Anything but fields of the schema
// in their usual form (unknown fields, another wire type, bytes that are not UTF-8) goes to
// protobuf-es, so every request decodes, or fails, exactly as it would there.
import { isUtf8 } from "node:buffer";
import { fromBinary, ScalarType, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

interface StringField {
  readonly name: string;
  readonly repeated: boolean;
}

export function stringRequestDecoder<Desc extends DescMessage>(schema: Desc): (bytes: Uint8Array) => MessageShape<Desc> {
  const fields = new Map<number, StringField>();
  for (const f of schema.fields) {
    const isString = (f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING;
    if (!isString || f.oneof) throw new Error(`${schema.typeName}.${f.name} is not a string field`);
    fields.set(f.number, { name: f.localName, repeated: f.fieldKind === "list" });
  }
  return (input) => {
    const message = decode(schema.typeName, fields, input);
    return (message ?? fromBinary(schema, input)) as MessageShape<Desc>;
  };
}

/** The message, or undefined when the bytes need protobuf-es. */
function decode(typeName: string, fields: ReadonlyMap<number, StringField>, input: Uint8Array): Record<string, unknown> | undefined {
  const b = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const message: Record<string, unknown> = { $typeName: typeName };
  for (const f of fields.values()) message[f.name] = f.repeated ? [] : "";
  let p = 0;
  while (p < b.length) {
    const tag = b[p++];
    // One-byte tags only (fields 1-15), length-delimited, with a length that fits the message.
    if (tag > 0x7f || (tag & 7) !== 2) return undefined;
    const field = fields.get(tag >>> 3);
    if (field === undefined) return undefined;
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= b.length || shift > 28) return undefined;
      const byte = b[p++];
      len |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    const end = p + len;
    if (len < 0 || end > b.length) return undefined;
    let ascii = true;
    for (let i = p; i < end; i++) {
      if (b[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isUtf8(b.subarray(p, end))) return undefined;
    const value = b.toString(ascii ? "latin1" : "utf8", p, end);
    if (field.repeated) (message[field.name] as string[]).push(value);
    else message[field.name] = value;
    p = end;
  }
  return message;
}
