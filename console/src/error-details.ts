// google.rpc.BadRequest, the standard error detail with field violations, which
// openloop attaches to INVALID_ARGUMENT errors that list several problems.
import { ConnectError } from "../../clients/typescript/src/browser.js";
import { BadRequestSchema } from "../../clients/typescript/src/gen/google/rpc/error_details_pb.js";

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Every field violation carried by an error's google.rpc.BadRequest details (none for other errors). */
export function fieldViolations(err: unknown): FieldViolation[] {
  const ce = ConnectError.from(err);
  const out: FieldViolation[] = [];
  for (const detail of ce.findDetails(BadRequestSchema)) {
    for (const v of detail.fieldViolations) out.push({ field: v.field, description: v.description });
  }
  return out;
}
