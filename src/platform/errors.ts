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
  reclassifyParseError(this.reason);
}

/**
 * Turns connect-es's INTERNAL "parse binary: ..." (and a compressed message without an
 * encoding) into INVALID_ARGUMENT, in place (the same
 * error object may already be on its way to the client). Request streams (observe.ts) read
 * later messages through this too.
 */
export function reclassifyParseError(err: unknown): void {
  if (err instanceof ConnectError && err.code === Code.Internal && UNREADABLE_REQUEST.test(err.rawMessage)) {
    (err as { code: Code }).code = Code.InvalidArgument;
  }
}

// connect-es's INTERNAL errors for a request body the client got wrong.
const UNREADABLE_REQUEST = /^(parse binary:|received compressed envelope, but do not know how to decompress)/;

/** Percent-encodes a grpc-message value as the gRPC spec asks (only non-printable ASCII and '%'). */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(byte);
  }
  return out;
}

/** How many characters of a request value an error message quotes: enough to recognise it. */
export const QUOTED_CHARS = 100;

/**
 * A request value as an error message may quote it: at most QUOTED_CHARS characters, the cut
 * marked with the full length. Every message that echoes a client's value goes through this,
 * so a huge value cannot push the status past the HTTP/2 header limit (which turns the
 * intended code into INTERNAL on the client).
 */
export function quote(value: string): string {
  if (value.length <= QUOTED_CHARS) return value;
  // Never cut a surrogate pair in two.
  const end = isHighSurrogate(value.charCodeAt(QUOTED_CHARS - 1)) ? QUOTED_CHARS - 1 : QUOTED_CHARS;
  return `${value.slice(0, end)}… (${value.length} characters)`;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** How many items of a list an error message shows. */
export const LISTED_ITEMS = 10;

/**
 * Joins at most LISTED_ITEMS items, saying how many there were in all: a request can make a
 * list of problems or names as long as it likes. Items that are request values go through
 * `quote` first.
 */
export function listSome(items: readonly string[], separator = ", "): string {
  if (items.length <= LISTED_ITEMS) return items.join(separator);
  return `${items.slice(0, LISTED_ITEMS).join(separator)}${separator}… (${items.length} in all)`;
}
