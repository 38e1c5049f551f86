import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { ConfigError, parseConfig } from "../../src/config.js";
import { startServer } from "../../src/server.js";
import { pino } from "pino";
import { startTestServer, type TestServer } from "../support/server.js";

const KEY = "auth-test-key-0123456789";
const OTHER_KEY = "second-key-abcdefghijkl";

const bearer =
  (header: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", header);
    return next(req);
  };

async function codeOf(p: Promise<unknown>): Promise<Code | "OK"> {
  try {
    await p;
    return "OK";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("API-key auth", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY, OTHER_KEY] } });
  });
  afterAll(() => s?.close());

  const grpcWith = (header: string): Transport => createGrpcTransport({ baseUrl: s.baseUrl, interceptors: [bearer(header)] });
  const connectWith = (header: string): Transport =>
    createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1", interceptors: [bearer(header)] });

  it("answers UNAUTHENTICATED without a key, over gRPC and Connect", async () => {
    expect(await codeOf(createClient(FeatureService, s.grpc).listFeatureSets({}))).toBe(Code.Unauthenticated);
    expect(await codeOf(createClient(FeatureService, s.connect).listFeatureSets({}))).toBe(Code.Unauthenticated);
  });

  it("answers UNAUTHENTICATED with a wrong key", async () => {
    expect(await codeOf(createClient(FeatureService, grpcWith("Bearer wrong-key-0123456789")).listFeatureSets({}))).toBe(Code.Unauthenticated);
    expect(await codeOf(createClient(FeatureService, connectWith(`Bearer ${KEY}x`)).listFeatureSets({}))).toBe(Code.Unauthenticated);
  });

  it("answers UNAUTHENTICATED for a header that is not a bearer token", async () => {
    expect(await codeOf(createClient(FeatureService, grpcWith(`Basic ${KEY}`)).listFeatureSets({}))).toBe(Code.Unauthenticated);
  });

  it("accepts each configured key", async () => {
    expect(await codeOf(createClient(FeatureService, grpcWith(`Bearer ${KEY}`)).listFeatureSets({}))).toBe("OK");
    expect(await codeOf(createClient(FeatureService, connectWith(`Bearer ${OTHER_KEY}`)).listFeatureSets({}))).toBe("OK");
  });

  it("does not echo the key in the error message", async () => {
    const err = await createClient(FeatureService, grpcWith("Bearer secret-guess-987654321")).listFeatureSets({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).message).not.toContain("secret-guess");
  });

  it("keeps health open without a key", async () => {
    const res = await createClient(Health, s.grpc).check({ service: "" });
    expect(res.status).toBe(Status.SERVING);
  });

  it("keeps reflection open without a key", async () => {
    const stream = createClient(ServerReflection, s.grpc).serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
      })(),
    );
    for await (const res of stream) {
      expect(res.messageResponse.case).toBe("listServicesResponse");
    }
  });
});

const tempDir = () => mkdtemp(path.join(os.tmpdir(), "openloop-auth-"));

describe("running without keys", () => {
  it("refuses to start open on a non-loopback address, naming the settings", async () => {
    const config = parseConfig({ server: { host: "0.0.0.0", port: 0 }, log: { level: "silent" } });
    const err = await startServer(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("server.apiKeys");
    expect((err as Error).message).toContain("server.allowOpen");
  });

  it("starts open on a non-loopback address when server.allowOpen is set, and says so in the log", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const server = await startServer(parseConfig({ server: { host: "0.0.0.0", port: 0, allowOpen: true }, dataDir: await tempDir() }), { log });
    try {
      const res = await createClient(FeatureService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` })).listFeatureSets({});
      expect(res.featureSets).toBeDefined();
      expect(lines.join("")).toContain("the server is open to the network");
    } finally {
      await server.close();
    }
  });

  it("starts open on loopback and warns that it is open", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const server = await startServer(parseConfig({ server: { port: 0 }, dataDir: await tempDir() }), { log });
    await server.close();
    expect(lines.join("")).toContain("no API keys configured");
  });
});
