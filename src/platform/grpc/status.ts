// What a gRPC client receives for an error: the code, the message and the trailers,
// encoded as connect-es encodes them, so grpc-status-details-bin (google.rpc.Status with
// the error's details) is byte for byte what the Connect side sends.
import type { ConnectError } from "@connectrpc/connect";
import { headerGrpcMessage, headerGrpcStatus, headerStatusDetailsBin, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { Metadata, type StatusObject, type status } from "@grpc/grpc-js";

/** The status to send for a ConnectError. */
export function grpcStatusOf(err: ConnectError, trailer?: Headers): StatusObject {
  const headers = setTrailerStatus(trailer ? new Headers(trailer) : new Headers(), err);
  return { code: err.code as number as status, details: err.rawMessage, metadata: toMetadata(headers) };
}

/** Response headers or trailers as grpc-js metadata, without the protocol's own fields. */
export function toMetadata(headers: Headers): Metadata {
  const md = new Metadata();
  headers.forEach((value, key) => {
    // Headers gives names in lower case; connect's constants are capitalised ("Grpc-Message").
    if (key === headerGrpcStatus.toLowerCase() || key === headerGrpcMessage.toLowerCase()) return;
    if (key.endsWith("-bin")) md.set(key, Buffer.from(value, "base64"));
    else md.set(key, value);
  });
  return md;
}

/** grpc-js metadata as the Headers a handler reads (binary values in base64, as on the wire). */
export function toHeaders(md: Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(md.toHttp2Headers())) {
    for (const v of Array.isArray(values) ? values : [values]) headers.append(key, String(v));
  }
  return headers;
}
