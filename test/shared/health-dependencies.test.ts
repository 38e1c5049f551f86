// Health reports each dependency per service (issue #14, Failures): beside "<service>/postgres",
// "<RegistryService>/objectstore" follows the real S3 server (SeaweedFS) going away and coming back,
// found by the probe's HeadBucket and by a transfer that failed; RegistryService itself and the
// server stay SERVING (metadata calls still answer). "<service>/redis" follows Redis for the
// services that need it.
import { Code, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { codeOf, registerSmall, registryClient, type RegistryClient } from "../registry/helpers.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

const REGISTRY = "openloop.registry.v1.RegistryService";
const FEATURE = "openloop.feature.v1.FeatureService";
const FEEDBACK = "openloop.feedback.v1.FeedbackService";
const PIPELINE = "openloop.pipeline.v1.PipelineService";
const LLM = "openloop.llm.v1.LLMService";

let backend: SharedBackend;
let server: TestServer;
let transport: GrpcJsTransport;
let health: Client<typeof Health>;
let registry: RegistryClient;

beforeAll(async () => {
  backend = await startSharedBackend({ artifacts: "s3" });
  server = await startTestServer({ ...(await backend.config("health_deps")), llm: { providers: {}, models: [] } });
  transport = createGrpcJsTransport(`127.0.0.1:${server.port}`);
  health = createClient(Health, transport);
  registry = registryClient(transport);
}, 180_000);

afterAll(async () => {
  transport?.close();
  await server?.close();
  await backend?.teardown();
});

const status = async (service: string) => (await health.check({ service })).status;

/** Waits (up to 20 s: the probe checks every few seconds) until `service` reports `want`. */
async function until(service: string, want: Status): Promise<void> {
  await expect.poll(() => status(service), { timeout: 20_000, interval: 100 }).toBe(want);
}

describe("health per dependency in shared mode", () => {
  it("reports PostgreSQL, the object store and Redis per service", async () => {
    const entries = [`${REGISTRY}/postgres`, `${REGISTRY}/objectstore`, `${PIPELINE}/postgres`, `${FEATURE}/postgres`, `${FEATURE}/redis`, `${FEEDBACK}/postgres`, `${FEEDBACK}/redis`, `${LLM}/redis`];
    for (const name of entries) expect({ name, status: await status(name) }).toEqual({ name, status: Status.SERVING });
    // Dependencies a service does not have are not invented.
    await expect(status(`${PIPELINE}/objectstore`)).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("reports the object store NOT_SERVING while S3 is down and SERVING once it is back; RegistryService keeps serving", async () => {
    await registerSmall(registry, "health-objectstore", "1");
    const s3 = backend.s3!;
    await s3.stop();
    try {
      await until(`${REGISTRY}/objectstore`, Status.NOT_SERVING);
      expect(await status(REGISTRY)).toBe(Status.SERVING);
      expect(await status("")).toBe(Status.SERVING);
      expect((await registry.getModelVersion({ name: "health-objectstore" })).modelVersion!.version).toBe("1");
      expect((await codeOf(registerSmall(registry, "health-objectstore", "2"))).code).toBe(Code.Unavailable);
    } finally {
      await s3.start();
    }
    await until(`${REGISTRY}/objectstore`, Status.SERVING);
    expect((await registerSmall(registry, "health-objectstore", "2")).version).toBe("2");
  });

  it("marks the object store down as soon as a transfer fails for want of it", async () => {
    const s3 = backend.s3!;
    await s3.stop();
    try {
      // Checked right after the failed transfer: NOT_SERVING already (the failure marks it; the HeadBucket agrees).
      const failed = await codeOf(registerSmall(registry, "health-transfer", "1"));
      expect(failed.code).toBe(Code.Unavailable);
      expect(await status(`${REGISTRY}/objectstore`)).toBe(Status.NOT_SERVING);
    } finally {
      await s3.start();
    }
    await until(`${REGISTRY}/objectstore`, Status.SERVING);
  });
});
