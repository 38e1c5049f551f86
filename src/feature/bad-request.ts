// google.rpc.BadRequest, the standard error detail listing field violations.
// No googleapis protos can be fetched here, so its descriptor is built from the
// two messages we need; the wire format is exactly the upstream one, so any gRPC
// client that knows google.rpc.BadRequest decodes our INVALID_ARGUMENT details.
import { create, createFileRegistry } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { quote } from "../platform/errors.js";

const stringField = (name: string, number: number) => ({
  name,
  number,
  label: FieldDescriptorProto_Label.OPTIONAL,
  type: FieldDescriptorProto_Type.STRING,
  jsonName: name,
});

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "BadRequest",
        field: [
          {
            name: "field_violations",
            number: 1,
            label: FieldDescriptorProto_Label.REPEATED,
            type: FieldDescriptorProto_Type.MESSAGE,
            typeName: ".google.rpc.BadRequest.FieldViolation",
            jsonName: "fieldViolations",
          },
        ],
        nestedType: [{ name: "FieldViolation", field: [stringField("field", 1), stringField("description", 2)] }],
      },
    ],
  }),
  () => undefined,
);

export const BadRequestSchema: DescMessage = registry.getMessage("google.rpc.BadRequest")!;

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

const MESSAGE_LIMIT = 20;
// gRPC carries details in a trailer, and HTTP/2 peers refuse header blocks past 16-64 KiB.
const DETAIL_LIMIT = 100;

/**
 * INVALID_ARGUMENT whose message lists the first 20 violations and whose
 * google.rpc.BadRequest detail carries the first 100 (each description cut to 200 characters).
 */
export function invalidArgument(summary: string, violations: readonly FieldViolation[]): ConnectError {
  const listed = violations.slice(0, MESSAGE_LIMIT).map((v) => `${quote(v.field)}: ${v.description}`);
  const more =
    violations.length > MESSAGE_LIMIT
      ? `; and ${violations.length - MESSAGE_LIMIT} more (the google.rpc.BadRequest error detail lists ${Math.min(violations.length, DETAIL_LIMIT)} of ${violations.length})`
      : "";
  const cut = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
  return new ConnectError(`${summary}: ${listed.join("; ")}${more}`, Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: { fieldViolations: violations.slice(0, DETAIL_LIMIT).map((v) => ({ field: quote(v.field), description: cut(v.description) })) },
    },
  ]);
}
