// Whether the transport that carries a call hands each request message over in a buffer of its
// own that nothing else reads afterwards, so a handler may free that buffer once it is done
// with the message's bytes (the registry does, for upload chunks once they are on disk).
// The gRPC servers reassemble every message longer than one HTTP/2 frame (16 KiB) into a fresh
// buffer (ours, wire.ts; grpc-js every message); a shorter one may share the socket's read
// buffer with others, below the size the registry frees (artifact-io.ts). connect-node may
// slice several messages out of one buffer, and in-process callers keep theirs.
import type { HandlerContext } from "@connectrpc/connect";
import { GrpcCallContext } from "../grpc/context.js";

export function ownsRequestBuffers(ctx: HandlerContext): boolean {
  return ctx instanceof GrpcCallContext;
}
