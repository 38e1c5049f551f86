// Three openloop processes on one PostgreSQL, one Redis and one S3 server (SeaweedFS), called
// round-robin: every replica serves the same registry, pipelines and online models, writes that
// must have one winner have one, and an outage of PostgreSQL or of S3 answers UNAVAILABLE fast
// where it must, keeps everything else serving, and heals without a restart.
import { randomBytes, randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { featureMap, makeRows } from "../feedback/synthetic.js";
import { llmConfig, MODEL, spec } from "../pipeline/helpers.js";
import { codeOf, download, registerSmall, registryClient, sha256, upload, type RegistryClient } from "../registry/helpers.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

interface Replica {
  server: SpawnedServer;
  sessions: Http2SessionManager;
  registry: RegistryClient;
  pipelines: Client<typeof PipelineService>;
  feedback: Client<typeof FeedbackService>;
  health: Client<typeof Health>;
}

let backend: SharedBackend;
let upstream: FakeLlmServer;
let replicas: Replica[] = [];
let next = 0;
/** The next replica, round-robin, as a load balancer would spread calls. */
const any = () => replicas[next++ % replicas.length]!;

beforeAll(async () => {
  backend = await startSharedBackend({ artifacts: "s3" });
  upstream = await startFakeOpenAI();
  const config = {
    ...(await backend.config("replicas")),
    llm: llmConfig(upstream),
    // A killed replica's training lock outlives it until it expires: keep that short.
    feedback: { redisKeyPrefix: `openloop:feedback:replicas-${randomUUID().slice(0, 8)}:`, lockTtlMs: 2_000 },
  };
  const servers = await Promise.all([0, 1, 2].map(() => spawnServer({ config })));
  replicas = servers.map((server) => {
    const sessions = new Http2SessionManager(server.baseUrl);
    const transport = createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions });
    return { server, sessions, registry: registryClient(transport), pipelines: createClient(PipelineService, transport), feedback: createClient(FeedbackService, transport), health: createClient(Health, transport) };
  });
}, 120_000);

afterAll(async () => {
  for (const r of replicas) r.sessions.abort();
  await Promise.all(replicas.map((r) => r.server.stop()));
  await upstream?.close();
  await backend?.teardown();
});

const [A, B, C] = [0, 1, 2].map((i) => () => replicas[i]!);

describe("three replicas on shared storage", () => {
  it("registers through one replica and downloads the same bytes through the others", async () => {
    const body = randomBytes(1024 * 1024 + 17);
    const mv = await upload(A().registry, { name: "shared-model", version: "1", type: "onnx" }, [{ name: "model.onnx", chunks: [body.subarray(0, 500_000), body.subarray(500_000)] }]);
    expect(mv.version).toBe("1");
    for (const r of [B(), C()]) {
      const got = await download(r.registry, { name: "shared-model" });
      expect(got).toMatchObject({ version: "1", bytes: body.length, sha256: sha256(body) });
    }
  });

  it("resolves an alias moved through one replica on another within a second", async () => {
    for (const v of ["1", "2"]) await registerSmall(any().registry, "aliased", v);
    await A().registry.setAlias({ name: "aliased", alias: "prod", version: "1" });
    const viaC = () => C().registry.getModelVersion({ name: "aliased", selector: { case: "alias", value: "prod" } }).then((r) => r.modelVersion!.version);
    expect(await viaC()).toBe("1"); // now cached on C
    await B().registry.setAlias({ name: "aliased", alias: "prod", version: "2" });
    const moved = performance.now();
    await expect.poll(viaC, { timeout: 1_000, interval: 10 }).toBe("2");
    expect(performance.now() - moved).toBeLessThan(1_000);
  });

  it("lets exactly one of two replicas registering the same version at the same instant win", async () => {
    const results = await Promise.allSettled([registerSmall(A().registry, "contested", "5", "onnx", "from a"), registerSmall(B().registry, "contested", "5", "onnx", "from b")]);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect(ConnectError.from(lost.reason).code).toBe(Code.AlreadyExists);
    const winner = results[0]!.status === "fulfilled" ? "from a" : "from b";
    expect((await download(C().registry, { name: "contested" }, true)).data!.toString()).toBe(winner);
  });

  it("shows a pipeline created through one replica through the others, and runs it there", async () => {
    const pipeline = spec({ inputVariables: ["text"], preprocess: [{ template: { template: "Say {{text}}" } }], generate: [{ llmGenerate: { model: MODEL } }] });
    await A().pipelines.createPipeline({ name: "shared-pipeline", spec: pipeline });
    expect((await B().pipelines.getPipeline({ name: "shared-pipeline" })).pipeline!.revision).toBe(1);
    expect((await C().pipelines.executePipeline({ name: "shared-pipeline", inputs: { text: "hi" } })).revision).toBe(1);
  });

  it("serves through every replica the version the learner trained on one of them", async () => {
    const name = `learner-${randomUUID().slice(0, 8)}`;
    await A().feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: 100, warmUp: false });
    expect((await B().feedback.predict({ model: name, features: featureMap([1, 2]) })).modelVersion).toBe("1");
    const samples = makeRows("regression", 100, 7).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    expect((await A().feedback.ingestSampleBatch({ model: name, samples })).accepted).toBe(100n);
    await expect.poll(async () => (await B().feedback.predict({ model: name, features: featureMap([1, 2]) })).modelVersion, { timeout: 30_000, interval: 50 }).toBe("2");
    // The version is in the one shared registry, with its lineage, whichever replica is asked.
    const v2 = (await C().registry.getModelVersion({ name, selector: { case: "version", value: "2" } })).modelVersion!;
    expect(v2.lineage).toMatchObject({ parentVersion: "1", samplesUsed: 100n });
  });

  it("answers UNAVAILABLE fast while PostgreSQL is down, keeps serving cached reads, and heals without a restart", async () => {
    await registerSmall(A().registry, "cached", "1");
    // Warm every replica's cache for this model.
    for (const r of replicas) expect((await r.registry.getModelVersion({ name: "cached" })).modelVersion!.version).toBe("1");

    const postgresHealth = (r: Replica) => r.health.check({ service: "openloop.registry.v1.RegistryService/postgres" }).then((h) => h.status);
    for (const r of replicas) expect(await postgresHealth(r)).toBe(Status.SERVING);

    await backend.pg.stop();
    try {
      // Health names the dependency per service; the replica itself keeps serving (cached reads answer).
      for (const r of replicas) await expect.poll(() => postgresHealth(r), { timeout: 5_000 }).toBe(Status.NOT_SERVING);
      expect((await A().health.check({ service: "openloop.pipeline.v1.PipelineService/postgres" })).status).toBe(Status.NOT_SERVING);
      expect((await A().health.check({ service: "" })).status).toBe(Status.SERVING);
      for (const r of replicas) {
        expect((await r.registry.getModelVersion({ name: "cached" })).modelVersion!.version).toBe("1");
        expect((await download(r.registry, { name: "cached" }, true)).data!.toString()).toBe("cached@1");
      }
      const started = performance.now();
      const write = await codeOf(registerSmall(B().registry, "cached", "2"));
      const uncached = await codeOf(C().registry.getModelVersion({ name: "never-read" }));
      const pipeline = await codeOf(A().pipelines.getPipeline({ name: "never-created" }));
      expect([write.code, uncached.code, pipeline.code]).toEqual([Code.Unavailable, Code.Unavailable, Code.Unavailable]);
      // Fast: a connection timeout of 1 s each, not a hang (generous bound for a busy machine).
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(write.message).toContain("PostgreSQL");
    } finally {
      await backend.pg.start();
    }

    // Recovery without a restart: writes work again, and changes propagate again.
    await expect.poll(() => registerSmall(B().registry, "cached", "2").then((m) => m.version, () => "unavailable"), { timeout: 20_000, interval: 200 }).toBe("2");
    for (const r of replicas) await expect.poll(() => postgresHealth(r), { timeout: 5_000 }).toBe(Status.SERVING);
    await A().registry.setAlias({ name: "cached", alias: "prod", version: "1" });
    const viaC = () => C().registry.getModelVersion({ name: "cached", selector: { case: "alias", value: "prod" } }).then((r) => r.modelVersion!.version, () => "");
    await expect.poll(viaC, { timeout: 5_000 }).toBe("1");
    await B().registry.setAlias({ name: "cached", alias: "prod", version: "2" });
    await expect.poll(viaC, { timeout: 1_000, interval: 10 }).toBe("2");
  });

  it("answers UNAVAILABLE for artifact transfers while S3 is down, keeps the other services serving, and heals without a restart", async () => {
    await registerSmall(A().registry, "s3-outage", "1");
    await backend.s3!.stop();
    try {
      const started = performance.now();
      const download1 = await codeOf(download(B().registry, { name: "s3-outage" }));
      const register = await codeOf(registerSmall(C().registry, "s3-outage", "2"));
      expect([download1.code, register.code]).toEqual([Code.Unavailable, Code.Unavailable]);
      // Fast: no call hangs on the missing server (generous bound for a busy machine).
      expect(performance.now() - started).toBeLessThan(10_000);
      // Metadata and the other services do not need S3.
      expect((await B().registry.getModelVersion({ name: "s3-outage" })).modelVersion!.version).toBe("1");
      expect((await C().pipelines.getPipeline({ name: "shared-pipeline" })).pipeline!.revision).toBe(1);
      expect((await A().registry.listModels({ pageSize: 1000 })).models.map((m) => m.name)).toContain("s3-outage");
    } finally {
      await backend.s3!.start();
    }
    await expect.poll(() => download(B().registry, { name: "s3-outage" }, true).then((d) => d.data!.toString(), () => "unavailable"), { timeout: 20_000, interval: 200 }).toBe("s3-outage@1");
    expect((await registerSmall(C().registry, "s3-outage", "2")).version).toBe("2");
  });

  // Last: it kills replica A.
  it("loses no acknowledged sample when a replica is killed during training; another trains on into the one registry", async () => {
    const name = `crash-${randomUUID().slice(0, 8)}`;
    const THRESHOLD = 1000;
    // Every version kept (max_versions 0): the trained samples are summed over all of them.
    await B().feedback.createOnlineModel({ name, task: Task.REGRESSION, updateThreshold: THRESHOLD, warmUp: false, maxVersions: 0 });
    const batch = makeRows("regression", 200, 5).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    let acknowledged = 0;
    let killed = false;
    const loops = Array.from({ length: 4 }, async () => {
      while (!killed) {
        try {
          acknowledged += Number((await A().feedback.ingestSampleBatch({ model: name, samples: batch })).accepted);
        } catch {
          return; // the connection died with the replica: this batch was never acknowledged
        }
      }
    });
    while (acknowledged < 4 * THRESHOLD) await new Promise((r) => setTimeout(r, 5));
    A().server.kill("SIGKILL");
    killed = true;
    await Promise.all(loops);
    await A().server.exited;

    // B trains on once A's lock expires; every acknowledged sample is trained or still buffered.
    let status = await B().feedback.getLearnerStatus({ model: name });
    for (const deadline = Date.now() + 30_000; status.training || status.bufferedSamples >= BigInt(THRESHOLD); ) {
      if (Date.now() > deadline) throw new Error(`training did not settle: ${status.bufferedSamples} buffered`);
      await new Promise((r) => setTimeout(r, 50));
      status = await B().feedback.getLearnerStatus({ model: name });
    }
    expect(Number(status.samplesSeen)).toBeGreaterThanOrEqual(acknowledged);
    const versions = (await C().registry.listModelVersions({ name, pageSize: 1000 })).modelVersions;
    const inVersions = versions.reduce((n, v) => n + Number(v.lineage!.samplesUsed), 0);
    expect(inVersions + Number(status.bufferedSamples)).toBe(Number(status.samplesSeen));
    expect(versions.some((v) => v.version === status.currentVersion)).toBe(true);
  });
});
