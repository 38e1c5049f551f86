// The Node entry: all three protocols through @connectrpc/connect-node.
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { clientOn, interceptorsFor, type OpenloopClient, type OpenloopClientOptions } from "./client.js";

export * from "./client.js";

export interface NodeOpenloopClientOptions extends OpenloopClientOptions {
  /** HTTP version for "connect" and "grpc-web" (default "1.1"); "grpc" is always HTTP/2. */
  readonly httpVersion?: "1.1" | "2";
}

export function createOpenloopClient(options: NodeOpenloopClientOptions): OpenloopClient {
  const { baseUrl } = options;
  const interceptors = interceptorsFor(options);
  const kind = options.transport ?? "grpc";
  if (kind === "grpc" || options.httpVersion === "2") {
    // One HTTP/2 connection, which close() ends.
    const sessionManager = new Http2SessionManager(baseUrl);
    const http2 = { baseUrl, interceptors, sessionManager, httpVersion: "2" as const };
    const transport =
      kind === "grpc"
        ? createGrpcTransport(http2)
        : kind === "connect"
          ? createConnectTransport({ ...http2, useBinaryFormat: true })
          : createGrpcWebTransport(http2);
    return clientOn(transport, () => sessionManager.abort());
  }
  const http1 = { baseUrl, interceptors, httpVersion: "1.1" as const };
  return clientOn(kind === "connect" ? createConnectTransport({ ...http1, useBinaryFormat: true }) : createGrpcWebTransport(http1));
}
