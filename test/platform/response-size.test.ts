// server.maxMessageBytes bounds responses as well as requests, on every transport: a response
// larger than it ends the call with RESOURCE_EXHAUSTED (and is counted so), the server goes on.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { T } from "../feature/helpers.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { rpcCounts } from "../support/observed-server.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MAX = 1024;
const SETS = 4;

describe.each(["openloop", "@grpc/grpc-js"] as const)("responses over server.maxMessageBytes, gRPC served by %s", (grpcServer) => {
  let s: TestServer;
  let grpcJs: GrpcJsTransport;
  let session: Http2SessionManager;
  const transports = (): [string, Transport][] => [
    ["grpc-js client", grpcJs],
    ["connect-node gRPC client", s.grpc],
    ["Connect", s.connect],
    ["gRPC-Web", s.grpcWeb],
  ];
  const codeOf = (p: Promise<unknown>) => p.then(() => Code[0], (e: unknown) => Code[ConnectError.from(e).code]);
  const count = async (rpc: string, code: string) => (await rpcCounts(s.baseUrl)).get(`${rpc} ${code}`) ?? 0;

  beforeAll(async () => {
    s = await startTestServer({ server: { maxMessageBytes: MAX, grpcServer }, metrics: { public: true } });
    grpcJs = createGrpcJsTransport(`127.0.0.1:${s.port}`);
    session = new Http2SessionManager(s.baseUrl);
    // Each request is well under MAX; listed together, the sets are well over it.
    const features = createClient(FeatureService, s.grpc);
    for (let i = 0; i < SETS; i++) {
      await features.createFeatureSet({ featureSet: { name: `wide-${i}`, description: "d".repeat(300), features: [{ name: "age", type: T.INT64 }] } });
    }
  });
  afterAll(async () => {
    grpcJs?.close();
    session?.abort();
    await s?.close();
  });

  it("answers RESOURCE_EXHAUSTED for a unary response larger than the limit, and serves the smaller one", async () => {
    for (const [name, transport] of transports()) {
      const features = createClient(FeatureService, transport);
      expect(await codeOf(features.listFeatureSets({ pageSize: 100 })), name).toBe("ResourceExhausted");
      expect((await features.listFeatureSets({ pageSize: 1 })).featureSets, name).toHaveLength(1);
    }
    expect((await createClient(Health, s.grpc).check({})).status).toBe(Status.SERVING);
    // Counted with the code each client got.
    expect(await count("openloop.feature.v1.FeatureService/ListFeatureSets", "RESOURCE_EXHAUSTED")).toBe(4);
    expect(await count("openloop.feature.v1.FeatureService/ListFeatureSets", "OK")).toBe(4);
  });

  it("ends a stream with RESOURCE_EXHAUSTED at its first message over the limit", async () => {
    // Bidi streams need HTTP/2.
    const streaming: [string, Transport][] = [
      ...transports().slice(0, 2),
      ["Connect over HTTP/2", createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2", sessionManager: session })],
      ["gRPC-Web over HTTP/2", createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "2", sessionManager: session })],
    ];
    for (const [name, transport] of streaming) {
      const answers: string[] = [];
      const code = await codeOf(
        (async () => {
          for await (const res of createClient(ServerReflection, transport).serverReflectionInfo(
            (async function* () {
              yield { messageRequest: { case: "listServices" as const, value: "" } };
              // The LLM service's file, with its comments and dependencies: many KiB.
              yield { messageRequest: { case: "fileContainingSymbol" as const, value: "openloop.llm.v1.LLMService" } };
            })(),
          )) {
            answers.push(res.messageResponse.case ?? "");
          }
        })(),
      );
      expect(code, name).toBe("ResourceExhausted");
      expect(answers, name).toEqual(["listServicesResponse"]);
    }
    expect((await createClient(Health, s.grpc).check({})).status).toBe(Status.SERVING);
    expect(await count("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "RESOURCE_EXHAUSTED")).toBe(streaming.length);
  });
});
