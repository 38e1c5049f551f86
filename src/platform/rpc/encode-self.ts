// A response message may write its own protobuf binary (for example spliced from stored
// bytes); transports that encode to binary use it instead of encoding the message.
// A registered symbol, as util.inspect.custom is.

/** The key of a message's own encoder: a method returning the message in protobuf binary. */
export const encodeSelf: unique symbol = Symbol.for("openloop.rpc.encodeSelf");

export interface SelfEncoding {
  [encodeSelf](): Uint8Array;
}

/** The message's own binary, or undefined when it has no encoder of its own. */
export function ownEncoding(value: unknown): Uint8Array | undefined {
  const own = (value as Partial<SelfEncoding> | null | undefined)?.[encodeSelf];
  return typeof own === "function" ? own.call(value) : undefined;
}

/**
 * The key of an optional method of a self-encoding message, called once the transport no
 * longer reads its bytes (those `encodeSelf` returned were sent, or the message was encoded
 * into a buffer of the transport's), so that their buffer may carry another message. Not
 * called if the call ends first. Every transport calls it but an in-process caller, which gets
 * the message itself; connect-node only for the streams a binding names in `sentNotices`
 * (rpc/binding.ts).
 */
export const encodedSent: unique symbol = Symbol.for("openloop.rpc.encodedSent");

export interface SentNotice {
  [encodedSent](): void;
}

/** The message's sent callback, if it has one. */
export function sentCallback(value: unknown): (() => void) | undefined {
  const sent = (value as Partial<SentNotice> | null | undefined)?.[encodedSent];
  return typeof sent === "function" ? () => sent.call(value) : undefined;
}
