// The same contract cases through every transport a client may use: a real @grpc/grpc-js
// client and connect-node's gRPC client (served by the server's own HTTP/2 transport, or by
// grpc-js when server.grpcServer says so: both run here), Connect and gRPC-Web over HTTP/2 and
// HTTP/1.1 (served by connect-node). All four call kinds, errors with details (and their bytes),
// response headers, deadlines, auth, the metrics' codes and reflection for grpcurl.
import { randomBytes } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { FeatureService, ProcessFeaturesRequestSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { dbl, str, T, violations } from "../feature/helpers.js";
import { MODEL, llmConfig, spec } from "../pipeline/helpers.js";
import { download, registryClient, sha256, upload } from "../registry/helpers.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { rpcCounts } from "../support/observed-server.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { grpcurlPath, run } from "../support/tools.js";

const KEY = "transports-test-key-0123456789";
const SET = "transports";
const PIPELINE = "transports-echo";

interface Client {
  readonly name: string;
  readonly transport: Transport;
  /** Whether it can stream requests (HTTP/1.1 clients cannot). */
  readonly clientStreams: boolean;
}

describe.each(["openloop", "@grpc/grpc-js"] as const)("gRPC served by %s", (grpcServer) => {
  let s: TestServer;
  let upstream: FakeLlmServer;
  let grpcJs: GrpcJsTransport;
  let grpcJsNoKey: GrpcJsTransport;
  const sessions: Http2SessionManager[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const withKey = [(next: Parameters<import("@connectrpc/connect").Interceptor>[0]) => (req: Parameters<typeof next>[0]) => {
    req.header.set("authorization", `Bearer ${KEY}`);
    return next(req);
  }];

  function clients(apiKey: boolean): Client[] {
    const baseUrl = s.baseUrl;
    const interceptors = apiKey ? withKey : [];
    const session = () => {
      const m = new Http2SessionManager(baseUrl);
      sessions.push(m);
      return m;
    };
    return [
      { name: "grpc-js client", transport: apiKey ? grpcJs : grpcJsNoKey, clientStreams: true },
      { name: "connect-node gRPC client", transport: createGrpcTransport({ baseUrl, sessionManager: session(), interceptors }), clientStreams: true },
      { name: "Connect over HTTP/2", transport: createConnectTransport({ baseUrl, httpVersion: "2", sessionManager: session(), interceptors }), clientStreams: true },
      { name: "gRPC-Web over HTTP/2", transport: createGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager: session(), interceptors }), clientStreams: true },
      { name: "Connect over HTTP/1.1", transport: createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent }, interceptors }), clientStreams: false },
      { name: "gRPC-Web over HTTP/1.1", transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent }, interceptors }), clientStreams: false },
    ];
  }

  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    s = await startTestServer({ server: { apiKeys: [KEY], grpcServer }, llm: llmConfig(upstream), registry: { downloadChunkBytes: 64 * 1024 }, metrics: { public: true } }, { apiKey: KEY });
    grpcJs = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: KEY });
    grpcJsNoKey = createGrpcJsTransport(`127.0.0.1:${s.port}`);
    await createClient(FeatureService, s.connect).createFeatureSet({
      featureSet: { name: SET, features: [{ name: "age", type: T.INT64 }, { name: "score", type: T.DOUBLE }] },
    });
    await createClient(PipelineService, s.connect).createPipeline({ name: PIPELINE, spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] }) });
  });

  afterAll(async () => {
    grpcJs?.close();
    grpcJsNoKey?.close();
    for (const m of sessions) m.abort();
    agent.destroy();
    await s?.close();
    await upstream?.close();
  });

  const notFoundCount = async () => (await rpcCounts(s.baseUrl)).get("openloop.registry.v1.RegistryService/GetModelVersion NOT_FOUND") ?? 0;

  it("shows the contract's comments in grpcurl describe (server reflection)", async () => {
    const r = await run(grpcurlPath(), ["-plaintext", "-H", `authorization: Bearer ${KEY}`, `127.0.0.1:${s.port}`, "describe", "openloop.registry.v1.RegistryService"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("// Streams one artifact: its description first, then its bytes in chunks.");
  });

  const NAMES = ["grpc-js client", "connect-node gRPC client", "Connect over HTTP/2", "gRPC-Web over HTTP/2", "Connect over HTTP/1.1", "gRPC-Web over HTTP/1.1"];

  describe.each(NAMES.map((name, i) => [name, i] as const))("%s", (_name, i) => {
    const client = () => clients(true)[i];

    it("calls a unary RPC (ListFeatureSets)", async () => {
      const c = client();
      const res = await createClient(FeatureService, c.transport).listFeatureSets({ pageSize: 100 });
      expect(res.featureSets.map((f) => f.name), c.name).toContain(SET);
    });

    it("refuses a call without the API key with UNAUTHENTICATED, and lets health through", async () => {
      const c = clients(false)[i];
      const err = await createClient(FeatureService, c.transport).listFeatureSets({}).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code, c.name).toBe(Code.Unauthenticated);
      expect((await createClient(Health, c.transport).check({})).status, c.name).toBe(1);
    });

    it("answers NOT_FOUND for an unknown model version, and counts the call with the code the client got", async () => {
      const c = client();
      const before = await notFoundCount();
      const err = await registryClient(c.transport).getModelVersion({ name: "no-such-model" }).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code, c.name).toBe(Code.NotFound);
      expect(await notFoundCount(), c.name).toBe(before + 1);
    });

    it("carries google.rpc.BadRequest details with INVALID_ARGUMENT", async () => {
      const c = client();
      const err = await createClient(FeatureService, c.transport)
        .processFeatures({ featureSet: SET, features: { age: str("forty"), score: dbl(1) } })
        .catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code, c.name).toBe(Code.InvalidArgument);
      expect(violations(err as ConnectError)).toEqual([{ field: "age", description: 'expected a int64 value, got string "forty"' }]);
    });

    it("streams a multi-chunk download (server streaming)", async () => {
      const c = client();
      const body = randomBytes(300 * 1024);
      const name = `dl-${i}`;
      await registryClient(s.grpc).registerModelVersionUnary({ header: { name, type: "onnx" }, artifacts: [{ name: "m.bin", data: body }] });
      const got = await download(registryClient(c.transport), { name }, true);
      expect(got.sha256, c.name).toBe(sha256(body));
      expect(got.chunks).toBeGreaterThan(1);
    });

    it("uploads in chunks (client streaming), or through the unary twin where the client cannot stream", async () => {
      const c = client();
      const body = randomBytes(200 * 1024);
      const name = `up-${i}`;
      const version = c.clientStreams
        ? await upload(registryClient(c.transport), { name, type: "onnx" }, [{ name: "m.bin", chunks: [body.subarray(0, 70_000), body.subarray(70_000)] }])
        : (await registryClient(c.transport).registerModelVersionUnary({ header: { name, type: "onnx" }, artifacts: [{ name: "m.bin", data: body }] })).modelVersion!;
      expect(version.name, c.name).toBe(name);
      expect((await download(registryClient(s.grpc), { name }, true)).sha256).toBe(sha256(body));
    });

    // Browsers and HTTP/1.1 clients cannot open a bidi stream (the last two transports).
    it.skipIf(i >= 4)("answers server reflection (bidi streaming)", async () => {
      const c = client();
      const answers = [];
      for await (const res of createClient(ServerReflection, c.transport).serverReflectionInfo(
        (async function* () {
          yield { messageRequest: { case: "listServices" as const, value: "" } };
          yield { messageRequest: { case: "fileContainingSymbol" as const, value: "openloop.feature.v1.FeatureService" } };
        })(),
      )) {
        answers.push(res.messageResponse.case);
      }
      expect(answers, c.name).toEqual(["listServicesResponse", "fileDescriptorResponse"]);
    });

    it("sends response headers (openloop-run-id of ExecutePipeline)", async () => {
      const c = client();
      let runId: string | null = null;
      const res = await createClient(PipelineService, c.transport).executePipeline(
        { name: PIPELINE, inputs: { prompt: "hello" } },
        { onHeader: (h) => (runId = h.get("openloop-run-id")) },
      );
      expect(res.runId, c.name).not.toBe("");
      expect(runId, c.name).toBe(res.runId);
    });

    it("ends a call at its deadline with DEADLINE_EXCEEDED", async () => {
      const c = client();
      const err = await (async () => {
        for await (const _ of createClient(Health, c.transport).watch({}, { timeoutMs: 150 })) {
          // SERVING, then nothing until the deadline
        }
      })().catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code, c.name).toBe(Code.DeadlineExceeded);
    });
  });

  describe("error details across transports", () => {
    it("go in grpc-status-details-bin byte for byte as connect-node, which served gRPC before, encodes them", async () => {
      const request = toBinary(ProcessFeaturesRequestSchema, create(ProcessFeaturesRequestSchema, { featureSet: SET, features: { age: str("forty"), score: dbl(1) } }));
      const trailers = await rawGrpcCall(s.port, "/openloop.feature.v1.FeatureService/ProcessFeatures", request);
      expect(trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
      const message = decodeURIComponent(String(trailers["grpc-message"]));
      const violation = { field: "age", description: 'expected a int64 value, got string "forty"' };
      const expected = setTrailerStatus(new Headers(), new ConnectError(message, Code.InvalidArgument, undefined, [{ desc: BadRequestSchema, value: { fieldViolations: [violation] } }]));
      const bytes = (b64: unknown) => Buffer.from(String(b64), "base64").toString("hex");
      expect(bytes(trailers["grpc-status-details-bin"])).toBe(bytes(expected.get("grpc-status-details-bin")));
    });

    it("are the same bytes whichever transport carried the call", async () => {
      const encoded: string[] = [];
      for (const c of clients(true)) {
        const err = await createClient(FeatureService, c.transport)
          .processFeatures({ featureSet: SET, features: { age: str("x"), score: str("y") } })
          .catch((e: unknown) => ConnectError.from(e));
        const details = (err as ConnectError).details.map((d) => ("value" in d && d.value instanceof Uint8Array ? Buffer.from(d.value).toString("hex") : JSON.stringify(d)));
        encoded.push(`${(err as ConnectError).code} ${(err as ConnectError).rawMessage} ${details.join(",")}`);
      }
      expect(new Set(encoded).size, encoded.join("\n")).toBe(1);
    });
  });
});

/** One unary gRPC call over a bare node:http2 session; resolves with the response's trailers as sent. */
function rawGrpcCall(port: number, path: string, message: Uint8Array): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${KEY}` });
    const framed = Buffer.alloc(5 + message.byteLength);
    framed.writeUInt32BE(message.byteLength, 1);
    framed.set(message, 5);
    req.end(framed);
    let trailers: http2.IncomingHttpHeaders | undefined;
    // A trailers-only answer carries its status in the response's headers.
    req.on("response", (headers) => (trailers = headers));
    req.on("trailers", (t) => (trailers = t));
    req.resume();
    req.on("end", () => {
      session.close();
      resolve(trailers!);
    });
    req.on("error", reject);
  });
}
