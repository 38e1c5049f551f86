// Domain errors of the registry; src/registry/service.ts maps each kind to a gRPC code.

export type RegistryErrorKind =
  | "invalid" // malformed input -> INVALID_ARGUMENT
  | "not_found" // -> NOT_FOUND
  | "already_exists" // -> ALREADY_EXISTS
  | "precondition" // valid request, wrong state -> FAILED_PRECONDITION
  | "data_loss" // client digest does not match the bytes received -> DATA_LOSS
  | "too_large" // artifact above the configured maximum, or too many uploads at once -> RESOURCE_EXHAUSTED
  | "stalled"; // an upload sent nothing for too long -> DEADLINE_EXCEEDED

export class RegistryError extends Error {
  override readonly name = "RegistryError";
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export class ValidationError extends RegistryError {
  constructor(message: string) {
    super("invalid", message);
  }
}
