// Request and response messages of a gRPC call in protobuf binary, for both gRPC servers
// (native-server.ts and grpc-js's server.ts): the same decoding errors and encodings on each.
import { create, isMessage, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ownEncoding } from "../rpc/encode-self.js";

/** Decodes a request, answering INVALID_ARGUMENT (as the Connect side does) for bytes that are not one. */
export function decodeRequest(decoder: (bytes: Uint8Array) => unknown, bytes: Uint8Array): unknown {
  try {
    return decoder(bytes);
  } catch (err) {
    throw new ConnectError(`parse binary: ${(err as Error).message}`, Code.InvalidArgument);
  }
}

/**
 * A response's binary: its own encoding if it has one (encode-self.ts), else protobuf-es's.
 * Larger than `maxBytes` (server.maxMessageBytes) is RESOURCE_EXHAUSTED, in grpc-js's words.
 */
export function encodeResponse(schema: DescMessage, value: unknown, maxBytes = Infinity): Uint8Array {
  const bytes = ownEncoding(value) ?? toBinary(schema, isMessage(value, schema) ? value : create(schema, value as never));
  if (bytes.byteLength > maxBytes) throw new ConnectError(`Sent message larger than max (${bytes.byteLength} vs. ${maxBytes})`, Code.ResourceExhausted);
  return bytes;
}
