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
