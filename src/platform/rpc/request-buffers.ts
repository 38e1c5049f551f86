// Whether the transport that carries a call hands each request message over in a buffer of its
// own that nothing else reads afterwards, so a handler may free that buffer once it is done
// with the message's bytes (the registry does, for upload chunks once they are on disk).
// grpc-js reassembles every message into a fresh buffer; connect-node may slice several
// messages out of one buffer, and in-process callers keep theirs.
import type { HandlerContext } from "@connectrpc/connect";
import { GrpcCallContext } from "../grpc/context.js";

export function ownsRequestBuffers(ctx: HandlerContext): boolean {
  return ctx instanceof GrpcCallContext;
}
