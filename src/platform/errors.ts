// Error codes the RPC layer gets wrong for our purposes, fixed in one place.
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

/**
 * connect-es reports a request body that is not valid protobuf as INTERNAL
 * ("parse binary: ..."), although the fault is the caller's. Every protocol handler
 * aborts the call's context with that very error just before writing it out, so a
 * listener on the context's signal can turn it into INVALID_ARGUMENT in time.
 * (Malformed JSON already arrives as INVALID_ARGUMENT.)
 */
export function reclassifyParseErrors(ctx: HandlerContext): void {
  ctx.signal.addEventListener("abort", onAbort, ONCE);
}

// One shared listener (no closure per call: this runs on every RPC).
const ONCE = { once: true } as const;
function onAbort(this: AbortSignal): void {
  const reason: unknown = this.reason;
  if (reason instanceof ConnectError && reason.code === Code.Internal && reason.rawMessage.startsWith("parse binary:")) {
    (reason as { code: Code }).code = Code.InvalidArgument;
  }
}

/** Percent-encodes a grpc-message value as the gRPC spec asks (only non-printable ASCII and '%'). */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
  }
  return out;
}
