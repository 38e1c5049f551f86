// The browser entry: Connect and gRPC-Web over fetch (@connectrpc/connect-web). Browsers
// cannot speak native gRPC (no HTTP/2 trailers from fetch), so "grpc" is refused.
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { clientOn, interceptorsFor, type OpenloopClient, type OpenloopClientOptions } from "./client.js";

export * from "./client.js";

export function createOpenloopClient(options: OpenloopClientOptions): OpenloopClient {
  const kind = options.transport ?? "connect";
  const common = { baseUrl: options.baseUrl, interceptors: interceptorsFor(options) };
  if (kind === "grpc") throw new Error('transport "grpc" needs Node (HTTP/2 with trailers); in a browser use "connect" or "grpc-web"');
  return clientOn(kind === "connect" ? createConnectTransport({ ...common, useBinaryFormat: true }) : createGrpcWebTransport(common));
}
