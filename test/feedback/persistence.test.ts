// Durable definitions and state across restarts of the embedded backend, models from the
// config file, named versions and aliases, and the bounded prediction store.
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { encodeArtifact } from "../../src/feedback/artifact.js";
import { LinearModel } from "../../src/feedback/linear.js";
import { MemoryPredictionStore } from "../../src/feedback/memory-predictions.js";
import type { PredictionRecord } from "../../src/feedback/predictions.js";
import { startTestServer } from "../support/server.js";
import { spawnServer } from "../support/spawn.js";
import { featureMap, makeRows } from "./synthetic.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const config = (dataDir: string) => ({
  dataDir,
  feedback: { models: [{ name: "from-config", task: "regression" as const, updateThreshold: 40, errorThreshold: 0.2, buckets: 4096 }] },
});

describe("the embedded backend across restarts", () => {
  it("creates config-file models, and keeps definitions, serving version and buffer across a restart", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-persist-"));
    dirs.push(dataDir);
    const first = await startTestServer(config(dataDir));
    const a = createClient(FeedbackService, first.grpc);
    const model = (await a.getOnlineModel({ name: "from-config" })).model!;
    expect(model).toMatchObject({ currentVersion: "1", updateThreshold: 40, errorThreshold: 0.2, hyperparameters: { hashBuckets: 4096 } });
    const rows = makeRows("regression", 50, 3).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    await a.ingestSampleBatch({ model: "from-config", samples: rows.slice(0, 40) });
    for (let i = 0; i < 400 && (await a.getLearnerStatus({ model: "from-config" })).currentVersion !== "2"; i++) await new Promise((r) => setTimeout(r, 25));
    await a.ingestSampleBatch({ model: "from-config", samples: rows.slice(40) });
    const before = await a.predict({ model: "from-config", features: featureMap([1, 2, 3]) });
    expect(before.modelVersion).toBe("2");
    await first.close();

    const second = await startTestServer(config(dataDir));
    const b = createClient(FeedbackService, second.grpc);
    const status = await b.getLearnerStatus({ model: "from-config" });
    expect(status).toMatchObject({ currentVersion: "2", bufferedSamples: 10n, samplesSeen: 50n });
    const after = await b.predict({ model: "from-config", features: featureMap([1, 2, 3]) });
    expect(after).toMatchObject({ modelVersion: "2", prediction: { value: before.prediction!.value } });
    // Predictions live in memory in the embedded backend: they do not survive a restart.
    await expect(b.submitFeedback({ predictionId: before.predictionId, actual: { kind: { case: "value", value: 1 } } })).rejects.toMatchObject({
      code: Code.NotFound,
    });

    // A version pinned by alias.
    await createClient(RegistryService, second.grpc).setAlias({ name: "from-config", alias: "baseline", version: "1" });
    const pinned = await b.predict({ model: "from-config", features: featureMap([1, 2, 3]), version: "baseline" });
    expect(pinned).toMatchObject({ modelVersion: "1", prediction: { value: 0 } });
    await expect(b.predict({ model: "from-config", features: featureMap([1]), version: "nosuch" })).rejects.toMatchObject({ code: Code.NotFound });
    await second.close();
  });
});

describe("a full buffer", () => {
  it("answers RESOURCE_EXHAUSTED and stores nothing of the refused batch", async () => {
    const server = await startTestServer({ feedback: { maxBufferedSamples: 100 } });
    try {
      const feedback = createClient(FeedbackService, server.grpc);
      await feedback.createOnlineModel({ name: "full", task: Task.REGRESSION, updateThreshold: 1000 });
      const rows = makeRows("regression", 60, 6).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
      expect((await feedback.ingestSampleBatch({ model: "full", samples: rows })).accepted).toBe(60n);
      await expect(feedback.ingestSampleBatch({ model: "full", samples: rows })).rejects.toMatchObject({ code: Code.ResourceExhausted });
      expect((await feedback.getLearnerStatus({ model: "full" })).bufferedSamples).toBe(60n);
    } finally {
      await server.close();
    }
  });
});

describe("a buffer that fills in the middle of an IngestSamples stream", () => {
  it("fails the stream with RESOURCE_EXHAUSTED and keeps the server running", async () => {
    // A separate process: an append failing while an earlier one is awaited used to be an
    // unhandled rejection, which ends Node.
    const server = await spawnServer({ config: { log: { level: "warn" }, feedback: { maxBufferedSamples: 100 } } });
    try {
      const feedback = createClient(FeedbackService, createGrpcTransport({ baseUrl: server.baseUrl }));
      await feedback.createOnlineModel({ name: "fills", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
      const rows = makeRows("regression", 30, 7).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
      async function* messages() {
        for (let i = 0; i < 40; i++) yield { model: "fills", samples: rows };
      }
      await expect(feedback.ingestSamples(messages())).rejects.toMatchObject({ code: Code.ResourceExhausted });
      // The same process answers, its buffer still full.
      expect((await feedback.getLearnerStatus({ model: "fills" })).bufferedSamples).toBeGreaterThan(70n);
      await expect(feedback.ingestSampleBatch({ model: "fills", samples: rows })).rejects.toMatchObject({ code: Code.ResourceExhausted });
      expect(server.output()).not.toContain("BufferFullError");
    } finally {
      await server.stop();
    }
  });
});

describe("a training whose registration fails", () => {
  it("keeps every sample buffered and reports the failure", async () => {
    // Version 1 (no weights) is about 200 bytes; a trained version of 20 features over 400.
    const server = await startTestServer({ registry: { maxArtifactBytes: 400 }, feedback: { retryDelayMs: 60_000 } });
    try {
      const feedback = createClient(FeedbackService, server.grpc);
      await feedback.createOnlineModel({ name: "blocked", task: Task.REGRESSION, updateThreshold: 50 });
      const rows = makeRows("regression", 60, 4).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
      await feedback.ingestSampleBatch({ model: "blocked", samples: rows });
      let status = await feedback.getLearnerStatus({ model: "blocked" });
      for (let i = 0; i < 400 && !status.lastTraining; i++) {
        await new Promise((r) => setTimeout(r, 25));
        status = await feedback.getLearnerStatus({ model: "blocked" });
      }
      expect(status.lastTraining).toMatchObject({ succeeded: false, samplesUsed: 60n });
      expect(status.lastTraining!.error).not.toBe("");
      expect(status).toMatchObject({ currentVersion: "1", bufferedSamples: 60n, samplesSeen: 60n });
      expect((await feedback.predict({ model: "blocked", features: featureMap([1]) })).modelVersion).toBe("1");
    } finally {
      await server.close();
    }
  });
});

describe("a crash between registering a version and committing it", () => {
  it("adopts the registered version on restart instead of training its samples again", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-orphan-"));
    dirs.push(dataDir);
    const first = await startTestServer({ dataDir });
    const a = createClient(FeedbackService, first.grpc);
    await a.createOnlineModel({ name: "orphan", task: Task.REGRESSION, updateThreshold: 1000 });
    const rows = makeRows("regression", 300, 8).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    await a.ingestSampleBatch({ model: "orphan", samples: rows });
    await first.close();

    // What the learner had registered when the process died: trained through the log's end.
    const logBytes = (await stat(path.join(dataDir, "feedback", "models", "orphan", "seg-000000000001.log"))).size;
    const trained = new LinearModel("regression", { learningRate: 0.1, l2: 1e-4, buckets: 1 << 18, optimizer: "adagrad", epochs: 1, scaling: "standardize" });
    trained.weights[7] = 0.5;
    const second = await startTestServer({ dataDir });
    await createClient(RegistryService, second.grpc).registerModelVersionUnary({
      header: {
        name: "orphan",
        type: "linear",
        lineage: { parentVersion: "1", producer: "openloop-online-learner", samplesUsed: 300n, details: { "openloop.feedback.log_position": `1:${logBytes}` } },
      },
      artifacts: [{ name: "model.olin", data: encodeArtifact(trained) }],
    });
    const b = createClient(FeedbackService, second.grpc);
    const status = await b.getLearnerStatus({ model: "orphan" });
    expect(status).toMatchObject({ currentVersion: "2", bufferedSamples: 0n, samplesSeen: 300n });
    await second.close();
  });
});

describe("the in-memory prediction store", () => {
  const rec: PredictionRecord = { model: "m", version: "1", task: "regression", prediction: 1, idx: new Int32Array([0]), val: new Float64Array([1]) };

  it("forgets predictions after their time to live", async () => {
    let now = 0;
    const store = new MemoryPredictionStore(1000, 10, () => now);
    await store.put("a", rec);
    now = 999;
    expect((await store.claim("a")).status).toBe("claimed");
    await store.put("b", rec);
    now = 2000;
    expect((await store.claim("b")).status).toBe("missing");
  });

  it("keeps at most its bound, dropping the oldest first", async () => {
    const store = new MemoryPredictionStore(60_000, 3, () => 0);
    for (const id of ["1", "2", "3", "4"]) await store.put(id, rec);
    expect(store.size).toBe(3);
    expect((await store.claim("1")).status).toBe("missing");
    expect((await store.claim("4")).status).toBe("claimed");
    expect((await store.claim("4")).status).toBe("already-claimed");
  });
});
