// The server's HTTP/2 receive windows: each connection, whichever server takes it (the gRPC server for
// gRPC, connect-node for Connect), lets a client send several MiB before waiting for the server.
// With Node's defaults (64 KiB per stream and per connection) a large upload stalls every 64 KiB.
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from "../../src/platform/http2-windows.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** Opens a connection, makes one call with `contentType`, and returns what the server granted. */
async function windowsGranted(port: number, contentType: string, body: Buffer): Promise<{ stream: number; connection: number; status: string }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on("error", () => {});
  try {
    const req = client.request({ ":method": "POST", ":path": "/openloop.registry.v1.RegistryService/ListModels", "content-type": contentType, te: "trailers" });
    req.end(body);
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => req.once("response", resolve).once("error", reject));
    req.resume();
    await new Promise((resolve) => req.once("close", resolve));
    return {
      stream: client.remoteSettings.initialWindowSize ?? 0,
      // What the client may still send on the connection: the server's connection window.
      connection: client.state.remoteWindowSize ?? 0,
      status: String(headers[":status"]),
    };
  } finally {
    client.close();
  }
}

describe("HTTP/2 receive windows of the server", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.close());

  it("are wide on a connection served by the gRPC server", async () => {
    const got = await windowsGranted(s.port, "application/grpc", Buffer.alloc(5));
    expect(got.status).toBe("200");
    expect(got.stream).toBe(STREAM_WINDOW_BYTES);
    expect(got.connection).toBeGreaterThan(CONNECTION_WINDOW_BYTES - 1024);
  });

  it("are wide on a connection served by connect-node (Connect)", async () => {
    const got = await windowsGranted(s.port, "application/proto", Buffer.alloc(0));
    expect(got.status).toBe("200");
    expect(got.stream).toBe(STREAM_WINDOW_BYTES);
    expect(got.connection).toBeGreaterThan(CONNECTION_WINDOW_BYTES - 1024);
  });
});
