// google.rpc.BadRequest, the standard error detail listing field violations, attached to
// INVALID_ARGUMENT errors that find several problems at once.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { quote } from "../platform/errors.js";

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
