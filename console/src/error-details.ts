// google.rpc.BadRequest, the standard error detail with field violations, which
// openloop attaches to INVALID_ARGUMENT errors that list several problems. No
// googleapis protos are generated here, so the descriptor is declared inline; the
// wire format is the upstream one.
import { create, createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "../../clients/typescript/src/browser.js";

const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
const { STRING, MESSAGE } = FieldDescriptorProto_Type;

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "BadRequest",
        field: [{ name: "field_violations", number: 1, label: REPEATED, type: MESSAGE, typeName: ".google.rpc.BadRequest.FieldViolation", jsonName: "fieldViolations" }],
        nestedType: [
          {
            name: "FieldViolation",
            field: [
              { name: "field", number: 1, label: OPTIONAL, type: STRING, jsonName: "field" },
              { name: "description", number: 2, label: OPTIONAL, type: STRING, jsonName: "description" },
            ],
          },
        ],
      },
    ],
  }),
  () => undefined,
);

const BadRequestSchema = registry.getMessage("google.rpc.BadRequest") as DescMessage;

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Every field violation carried by an error's google.rpc.BadRequest details (none for other errors). */
export function fieldViolations(err: unknown): FieldViolation[] {
  const ce = ConnectError.from(err);
  const out: FieldViolation[] = [];
  for (const detail of ce.findDetails(BadRequestSchema)) {
    const list = (detail as unknown as { fieldViolations?: { field: string; description: string }[] }).fieldViolations ?? [];
    for (const v of list) out.push({ field: v.field, description: v.description });
  }
  return out;
}
