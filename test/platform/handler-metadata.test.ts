// Response headers and trailers a handler sets reach the client on every transport, unary and
// streaming, whichever server carries gRPC. No service of the contract sets trailers today, so
// a binding of the test's own (on the registry's descriptor) is served by the platform.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { parseConfig } from "../../src/config.js";
import { serve, type RunningServer } from "../../src/platform/app.js";
import { bind } from "../../src/platform/rpc/binding.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";

const binding = bind(RegistryService, {
  async getModelVersion(req, ctx) {
    ctx.responseHeader.set("x-said", "before");
    ctx.responseTrailer.set("x-after", `done ${req.name}`);
    if (req.name === "fail") throw new ConnectError("refused on purpose", Code.FailedPrecondition);
    return { modelVersion: { name: req.name, version: "1" } };
  },
  async *downloadArtifact(req, ctx) {
    ctx.responseHeader.set("x-said", "before");
    yield { part: { case: "data", value: new Uint8Array([1]) } };
    ctx.responseTrailer.set("x-after", `streamed ${req.name}`);
    yield { part: { case: "data", value: new Uint8Array([2]) } };
  },
});

describe.each(["openloop", "@grpc/grpc-js"] as const)("metadata set by a handler, gRPC served by %s", (grpcServer) => {
  let server: RunningServer;
  let session: Http2SessionManager;
  let grpcJs: GrpcJsTransport;

  beforeAll(async () => {
    const config = parseConfig({ server: { host: "127.0.0.1", port: 0, grpcServer }, log: { level: "silent" } });
    server = await serve(config, { bindings: () => [binding], close: async () => {} }, pino({ level: "silent" }), { metrics: new Registry() });
    session = new Http2SessionManager(server.url);
    grpcJs = createGrpcJsTransport(new URL(server.url).host);
  });
  afterAll(async () => {
    session?.abort();
    grpcJs?.close();
    await server?.close(0);
  });

  const transports = (): [string, Transport][] => [
    ["grpc-js client", grpcJs],
    ["connect-node gRPC client", createGrpcTransport({ baseUrl: server.url, sessionManager: session })],
    ["Connect over HTTP/1.1", createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" })],
    ["gRPC-Web over HTTP/1.1", createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" })],
  ];

  it("sends a unary call's headers and trailers, with a success and with an error", async () => {
    for (const [name, transport] of transports()) {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const options = { onHeader: (h: Headers) => (header = h), onTrailer: (t: Headers) => (trailer = t) };
      await createClient(RegistryService, transport).getModelVersion({ name: "m" }, options);
      expect(header?.get("x-said"), name).toBe("before");
      expect(trailer?.get("x-after"), name).toBe("done m");
      const err = ConnectError.from(await createClient(RegistryService, transport).getModelVersion({ name: "fail" }).catch((e: unknown) => e));
      expect(err.code, name).toBe(Code.FailedPrecondition);
      expect(err.metadata.get("x-after"), name).toBe("done fail");
    }
  });

  it("sends a stream's headers first and its trailers after its last message", async () => {
    for (const [name, transport] of transports()) {
      let trailer: Headers | undefined;
      let header: Headers | undefined;
      const got: number[] = [];
      for await (const res of createClient(RegistryService, transport).downloadArtifact({ name: "s" }, { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) })) {
        expect(header?.get("x-said"), name).toBe("before");
        got.push(...(res.part.value as Uint8Array));
      }
      expect(got, name).toEqual([1, 2]);
      expect(trailer?.get("x-after"), name).toBe("streamed s");
    }
  });
});
