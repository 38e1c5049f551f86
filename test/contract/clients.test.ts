// The same RPCs through real clients of different stacks, against one server with auth on.
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { grpcurlPath, ROOT, run, venvPython } from "../support/tools.js";

const KEY = "contract-test-key-0123456789";
const SET = "contract_clients";

describe("one server, four clients", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY] } }, { apiKey: KEY });
    await createClient(FeatureService, s.connect).createFeatureSet({
      featureSet: { name: SET, description: "created by the contract test", features: [{ name: "age", type: FeatureType.INT64 }] },
    });
  });
  afterAll(() => s?.close());

  it("answers ListFeatureSets to grpc-js loading the .proto files with proto-loader", async () => {
    const def = protoLoader.loadSync("openloop/feature/v1/feature_service.proto", {
      includeDirs: [path.join(ROOT, "proto")],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      openloop: { feature: { v1: { FeatureService: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.openloop.feature.v1.FeatureService(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${KEY}`);
    try {
      const res = await new Promise<{ featureSets: { name: string }[] }>((resolve, reject) =>
        client.listFeatureSets({ pageSize: 10 }, md, (err: grpc.ServiceError | null, r: { featureSets: { name: string }[] }) =>
          err ? reject(err) : resolve(r),
        ),
      );
      expect(res.featureSets.map((f) => f.name)).toContain(SET);
    } finally {
      client.close();
    }
  });

  it("answers ListFeatureSets to the Connect client over gRPC (HTTP/2)", async () => {
    const res = await createClient(FeatureService, s.grpc).listFeatureSets({ pageSize: 10 });
    expect(res.featureSets.map((f) => f.name)).toContain(SET);
  });

  it("answers ListFeatureSets to the Connect client over the Connect protocol on HTTP/1.1", async () => {
    const res = await createClient(FeatureService, s.connect).listFeatureSets({ pageSize: 10 });
    expect(res.featureSets.map((f) => f.name)).toContain(SET);
  });

  it("answers ListFeatureSets to the Connect client over gRPC-Web on HTTP/1.1", async () => {
    const res = await createClient(FeatureService, s.grpcWeb).listFeatureSets({ pageSize: 10 });
    expect(res.featureSets.map((f) => f.name)).toContain(SET);
  });

  describe("grpcurl, with no .proto files (server reflection)", () => {
    const grpcurl = (...args: string[]) => run(grpcurlPath(), ["-plaintext", ...args], { cwd: "/" });

    it("lists every service of the contract plus health and reflection", async () => {
      const r = await grpcurl(`127.0.0.1:${s.port}`, "list");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n").sort()).toEqual(
        [
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          "openloop.feature.v1.FeatureService",
          "openloop.feedback.v1.FeedbackService",
          "openloop.llm.v1.LLMService",
          "openloop.pipeline.v1.PipelineService",
          "openloop.registry.v1.RegistryService",
        ].sort(),
      );
    });

    it("describes a method and a message", async () => {
      const method = await grpcurl(`127.0.0.1:${s.port}`, "describe", "openloop.feature.v1.FeatureService.ListFeatureSets");
      expect(method.code, method.stderr).toBe(0);
      expect(method.stdout).toContain("rpc ListFeatureSets ( .openloop.feature.v1.ListFeatureSetsRequest ) returns ( .openloop.feature.v1.ListFeatureSetsResponse )");
      const message = await grpcurl(`127.0.0.1:${s.port}`, "describe", "openloop.feature.v1.FeatureSet");
      expect(message.code, message.stderr).toBe(0);
      expect(message.stdout).toContain(".google.protobuf.Duration default_ttl = 4;");
    });

    it("shows the contract's comments in describe", async () => {
      const r = await grpcurl(`127.0.0.1:${s.port}`, "describe", "grpc.health.v1.Health");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("// Answers the current status; an unknown service is NOT_FOUND.");
    });

    it("calls ListFeatureSets with the API key", async () => {
      const r = await grpcurl("-H", `authorization: Bearer ${KEY}`, "-d", '{"page_size": 10}', `127.0.0.1:${s.port}`, "openloop.feature.v1.FeatureService/ListFeatureSets");
      expect(r.code, r.stderr).toBe(0);
      const body = JSON.parse(r.stdout) as { featureSets: { name: string }[] };
      expect(body.featureSets.map((f) => f.name)).toContain(SET);
    });

    it("calls grpc.health.v1.Health/Check without a key", async () => {
      const r = await grpcurl(`127.0.0.1:${s.port}`, "grpc.health.v1.Health/Check");
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ status: "SERVING" });
    });
  });

  it("answers the Python grpcio client generated from proto/ (examples/python)", async () => {
    const r = await run(venvPython(), [path.join(ROOT, "examples/python/client.py"), "--target", `127.0.0.1:${s.port}`, "--api-key", KEY]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { feature_sets: string[] }).feature_sets).toContain(SET);
  });

  it("refuses the Python client without a key, with UNAUTHENTICATED", async () => {
    const r = await run(venvPython(), [path.join(ROOT, "examples/python/client.py"), "--target", `127.0.0.1:${s.port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("UNAUTHENTICATED");
  });

  it("answers the Node example client (examples/node)", async () => {
    const r = await run(process.execPath, ["--import", "tsx", path.join(ROOT, "examples/node/client.ts"), s.baseUrl, KEY]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { featureSets: string[] }).featureSets).toContain(SET);
  });
});
