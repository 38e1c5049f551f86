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
import { ObjectStoreProbe } from "../../src/registry/object-store-probe.js";
import { S3ArtifactStore } from "../../src/registry/s3-artifact-store.js";
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

  it("marks the object store down as soon as a transfer fails for want of it, before any HeadBucket", async () => {
    const s3 = backend.s3!;
    const store = new S3ArtifactStore({ endpoint: s3.endpoint, bucket: await s3.createBucket("health-probe"), region: s3.region, credentials: s3.credentials, prefix: "openloop/", forcePathStyle: true });
    // No check runs by itself during the test: only the failed transfer can mark it down.
    const probe = new ObjectStoreProbe(store, { intervalMs: 3_600_000, timeoutMs: 2_000 });
    const changes: boolean[] = [];
    probe.onChange((up) => changes.push(up));
    try {
      await probe.check();
      expect(probe.up).toBe(true);
      await s3.stop();
      try {
        expect(probe.up).toBe(true); // nothing has noticed yet
        await expect(store.beginWrite({ model: "m", version: "1", artifact: "a.bin" })).rejects.toMatchObject({ kind: "unavailable" });
        expect(probe.up).toBe(false);
        await probe.check(); // a HeadBucket agrees while S3 is away
        expect(probe.up).toBe(false);
      } finally {
        await s3.start();
      }
      await expect.poll(async () => (await probe.check(), probe.up), { timeout: 20_000, interval: 200 }).toBe(true);
      expect(changes).toEqual([false, true]);
    } finally {
      probe.close();
      await store.close();
    }
  });
});
