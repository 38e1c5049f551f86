// The feedback loop over real connections: create, predict, feedback, train, register, serve.
import { createClient, type Client, ConnectError, Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureValueSchema } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, SampleSchema, Task, TrainingSamples } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";

type SampleInit = MessageInitShape<typeof SampleSchema>;
import { decodeArtifact } from "../../src/feedback/artifact.js";
import { SparseVector, vectorize } from "../../src/feedback/hashing.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { featureMap, makeRows, score, trueMargin, type Row } from "./synthetic.js";

let server: TestServer;
let feedback: Client<typeof FeedbackService>;
let registry: Client<typeof RegistryService>;

beforeAll(async () => {
  server = await startTestServer();
  feedback = createClient(FeedbackService, server.grpc);
  registry = createClient(RegistryService, server.grpc);
});
afterAll(async () => {
  await server?.close();
});

function samples(rows: Row[], task: "regression" | "classification"): SampleInit[] {
  return rows.map((r) => ({
    features: featureMap(r.x),
    outcome: { kind: task === "regression" ? { case: "value" as const, value: r.y } : { case: "label" as const, value: r.y === 1 } },
  }));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function loadVersion(name: string, version: string) {
  const chunks: Uint8Array[] = [];
  for await (const part of registry.downloadArtifact({ name, selector: { case: "version", value: version } })) {
    if (part.part.case === "data") chunks.push(part.part.value);
  }
  return decodeArtifact(Buffer.concat(chunks)).model;
}

async function* stream(model: string, all: SampleInit[], perMessage: number) {
  for (let i = 0; i < all.length; i += perMessage) yield { model, samples: all.slice(i, i + perMessage) };
}

describe("FeedbackService over gRPC", () => {
  it("registers version 1 with zero weights when a model is created", async () => {
    const res = await feedback.createOnlineModel({ name: "created", task: Task.REGRESSION });
    expect(res.model).toMatchObject({ name: "created", currentVersion: "1", errorThreshold: 0.1, updateThreshold: 100 });
    const v = await registry.getModelVersion({ name: "created", selector: { case: "version", value: "1" } });
    expect(v.modelVersion).toMatchObject({ type: "linear", lineage: { producer: "openloop-online-learner", samplesUsed: 0n } });
    const model = await loadVersion("created", "1");
    expect(model.weights.every((w) => w === 0)).toBe(true);
  });

  it("answers ALREADY_EXISTS for a second model of the same name", async () => {
    await feedback.createOnlineModel({ name: "twice", task: Task.REGRESSION });
    await expect(feedback.createOnlineModel({ name: "twice", task: Task.REGRESSION })).rejects.toMatchObject({ code: Code.AlreadyExists });
  });

  it("learns a regression from streamed samples to near the true model, far better than version 1", async () => {
    await feedback.createOnlineModel({ name: "reg", task: Task.REGRESSION, updateThreshold: 2000 });
    const train = makeRows("regression", 8000, 11);
    const res = await feedback.ingestSamples(stream("reg", samples(train, "regression"), 500));
    expect(res).toMatchObject({ accepted: 8000n, rejected: 0n });
    // Trainings take what is buffered when they start; fewer than the threshold may remain.
    const status = await waitFor("the learner to settle", async () => {
      const s = await feedback.getLearnerStatus({ model: "reg" });
      return s.bufferedSamples < 2000n && !s.training ? s : undefined;
    });
    expect(status.samplesSeen).toBe(8000n);
    const newest = await registry.getModelVersion({ name: "reg" });
    expect(newest.modelVersion!.version).toBe(status.currentVersion);
    const heldOut = makeRows("regression", 2000, 12);
    const v = new SparseVector();
    const rmseOf = (m: Awaited<ReturnType<typeof loadVersion>>) =>
      score("regression", heldOut, (x) => {
        vectorize(featureMap(x), m.hp.buckets, v);
        return m.predict(v.idx, v.val, v.nnz);
      }).rmse;
    const truth = score("regression", heldOut, trueMargin).rmse; // ~ the noise level, 0.1
    const learned = rmseOf(await loadVersion("reg", status.currentVersion));
    const first = rmseOf(await loadVersion("reg", "1"));
    // Stated bound: within 25% of the true model's RMSE; version 1 is 10x worse than that.
    // The noise is 3% of the target's spread here, the regime where standardization costs
    // most: on raw values the same pass ends within 2%, standardized within 7-14% (6,000-8,000
    // samples trained, depending on what the learner takes when), and the last of
    // them stay buffered below the threshold.
    expect(learned).toBeLessThan(truth * 1.25);
    expect(first).toBeGreaterThan(10 * learned);
  });

  it("learns a logistic regression from streamed samples to near the true model's log loss", async () => {
    await feedback.createOnlineModel({ name: "clf", task: Task.BINARY_CLASSIFICATION, updateThreshold: 2000 });
    const train = makeRows("classification", 8000, 21);
    const res = await feedback.ingestSamples(stream("clf", samples(train, "classification"), 1000));
    expect(res.accepted).toBe(8000n);
    const status = await waitFor("the learner to settle", async () => {
      const s = await feedback.getLearnerStatus({ model: "clf" });
      return s.bufferedSamples < 2000n && !s.training ? s : undefined;
    });
    const heldOut = makeRows("classification", 2000, 22);
    const v = new SparseVector();
    const scoreOf = (m: Awaited<ReturnType<typeof loadVersion>>) =>
      score("classification", heldOut, (x) => {
        vectorize(featureMap(x), m.hp.buckets, v);
        return m.predict(v.idx, v.val, v.nnz);
      });
    const truth = score("classification", heldOut, (x) => 1 / (1 + Math.exp(-trueMargin(x))));
    const learned = scoreOf(await loadVersion("clf", status.currentVersion));
    const first = scoreOf(await loadVersion("clf", "1"));
    // Stated bound: log loss within 0.03 and accuracy within 3 points of the true model.
    expect(learned.logLoss).toBeLessThan(truth.logLoss + 0.03);
    expect(learned.accuracy).toBeGreaterThan(truth.accuracy - 0.03);
    expect(first.logLoss).toBeCloseTo(Math.log(2), 5);
    expect(learned.logLoss).toBeLessThan(first.logLoss - 0.25);
  });

  it("closes the loop: predict, feedback past the threshold, new version with lineage, next predict served by it", async () => {
    await feedback.createOnlineModel({
      name: "loop",
      task: Task.REGRESSION,
      updateThreshold: 50,
      errorThreshold: 0.5,
      warmUp: false,
      trainingSamples: TrainingSamples.SIGNIFICANT_ERRORS,
    });
    const rows = makeRows("regression", 50, 31);
    let sent = 0;
    for (const r of rows) {
      const p = await feedback.predict({ model: "loop", features: featureMap(r.x) });
      expect(p.modelVersion).toBe("1");
      expect(p.prediction!.value).toBe(0);
      const f = await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: r.y } } });
      expect(f.error).toBeCloseTo(Math.abs(r.y), 9);
      expect(f.sentToLearner).toBe(Math.abs(r.y) > 0.5);
      if (f.sentToLearner) sent++;
    }
    const extra = makeRows("regression", 200, 32).filter((r) => Math.abs(r.y) > 0.5).slice(0, 50 - sent);
    for (const r of extra) {
      const p = await feedback.predict({ model: "loop", features: featureMap(r.x) });
      if (p.modelVersion !== "1") break;
      await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: r.y } } });
    }
    const status = await waitFor("version 2", async () => {
      const s = await feedback.getLearnerStatus({ model: "loop" });
      return s.currentVersion === "2" ? s : undefined;
    });
    expect(status.lastTraining).toMatchObject({ succeeded: true, producedVersion: "2", samplesUsed: 50n });
    expect(status.lastTraining!.lossAfter).toBeLessThan(status.lastTraining!.lossBefore);
    const v2 = await registry.getModelVersion({ name: "loop", selector: { case: "version", value: "2" } });
    expect(v2.modelVersion!.lineage).toMatchObject({ parentVersion: "1", producer: "openloop-online-learner", samplesUsed: 50n });
    expect(Number(v2.modelVersion!.lineage!.details["batch.loss_after"])).toBeLessThan(Number(v2.modelVersion!.lineage!.details["batch.loss_before"]));
    expect(v2.modelVersion!.lineage!.details["batch.evaluated_samples"]).toBe("50");
    const next = await feedback.predict({ model: "loop", features: featureMap(rows[0]!.x) });
    expect(next.modelVersion).toBe("2");
    expect(next.prediction!.value).not.toBe(0);
    const pinned = await feedback.predict({ model: "loop", features: featureMap(rows[0]!.x), version: "1" });
    expect(pinned).toMatchObject({ modelVersion: "1", prediction: { value: 0 } });
  });

  it("takes a large batch's lineage figures on at most 1,000 of its samples, evenly spread", async () => {
    await feedback.createOnlineModel({ name: "large-batch", task: Task.REGRESSION, updateThreshold: 2500, warmUp: false });
    const rows = makeRows("regression", 2500, 41);
    expect((await feedback.ingestSampleBatch({ model: "large-batch", samples: samples(rows, "regression") })).accepted).toBe(2500n);
    await waitFor("version 2", async () => ((await feedback.getLearnerStatus({ model: "large-batch" })).currentVersion === "2" ? true : undefined));
    const details = (await registry.getModelVersion({ name: "large-batch", selector: { case: "version", value: "2" } })).modelVersion!.lineage!.details;
    // Every 3rd sample (ceil(2500 / 1000)), from the first: 834 of them. Version 1 predicts
    // 0, so the figures before are the mean of y² and of |y| over exactly those.
    const picked = rows.filter((_, i) => i % 3 === 0);
    expect(details["batch.evaluated_samples"]).toBe(String(picked.length));
    expect(Number(details["batch.loss_before"])).toBeCloseTo(picked.reduce((a, r) => a + r.y * r.y, 0) / picked.length, 9);
    expect(Number(details["batch.mae_before"])).toBeCloseTo(picked.reduce((a, r) => a + Math.abs(r.y), 0) / picked.length, 9);
    expect(Number(details["batch.loss_after"])).toBeLessThan(Number(details["batch.loss_before"]));
  });

  it("trains on every outcome by default, and refuses an unknown training_samples naming it", async () => {
    const made = await feedback.createOnlineModel({ name: "all-outcomes", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    expect(made.model?.trainingSamples).toBe(TrainingSamples.ALL_OUTCOMES);
    const p = await feedback.predict({ model: "all-outcomes", features: featureMap([1, 2]) });
    const f = await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 0.05 } } });
    expect(f).toMatchObject({ sentToLearner: true });
    expect(f.error).toBeCloseTo(0.05, 9);
    expect((await feedback.getLearnerStatus({ model: "all-outcomes" })).bufferedSamples).toBe(1n);
    await expect(feedback.createOnlineModel({ name: "bad-samples", task: Task.REGRESSION, trainingSamples: 9 as TrainingSamples })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("training_samples"),
    });
  });

  it("keeps the newest max_versions of its versions, the serving one and aliased ones, and deletes the rest", async () => {
    await feedback.createOnlineModel({ name: "bounded", task: Task.REGRESSION, updateThreshold: 10, warmUp: false, maxVersions: 3 });
    const rows = samples(makeRows("regression", 80, 41), "regression");
    const trained = async (version: string) =>
      waitFor(`version ${version}`, async () => ((await feedback.getLearnerStatus({ model: "bounded" })).currentVersion === version ? true : undefined));
    await feedback.ingestSampleBatch({ model: "bounded", samples: rows.slice(0, 10) });
    await trained("2");
    await registry.setAlias({ name: "bounded", alias: "pinned", version: "2" });
    for (let i = 1; i < 8; i++) {
      await feedback.ingestSampleBatch({ model: "bounded", samples: rows.slice(i * 10, i * 10 + 10) });
      await trained(String(i + 2));
    }
    const kept = await waitFor("old versions to be deleted", async () => {
      const list = (await registry.listModelVersions({ name: "bounded" })).modelVersions.map((v) => v.version);
      return list.length === 4 ? list : undefined;
    });
    expect(kept).toEqual(["9", "8", "7", "2"]);
    await expect(registry.getModelVersion({ name: "bounded", selector: { case: "version", value: "5" } })).rejects.toMatchObject({ code: Code.NotFound });
    const newest = await registry.getModelVersion({ name: "bounded" });
    expect(newest.modelVersion!.lineage).toMatchObject({ parentVersion: "8", producer: "openloop-online-learner", samplesUsed: 10n });
    expect((await feedback.predict({ model: "bounded", features: featureMap([1]), version: "pinned" })).modelVersion).toBe("2");
    await expect(feedback.createOnlineModel({ name: "too-many", task: Task.REGRESSION, maxVersions: 2_000_000 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("max_versions"),
    });
  });

  it("waits min_train_interval_ms after a training before the next, keeping the samples buffered", async () => {
    await feedback.createOnlineModel({ name: "paced", task: Task.REGRESSION, updateThreshold: 1, warmUp: false, minTrainIntervalMs: 3_600_000 });
    const rows = samples(makeRows("regression", 2, 51), "regression");
    await feedback.ingestSampleBatch({ model: "paced", samples: rows.slice(0, 1) });
    await waitFor("version 2", async () => ((await feedback.getLearnerStatus({ model: "paced" })).currentVersion === "2" ? true : undefined));
    await feedback.ingestSampleBatch({ model: "paced", samples: rows.slice(1) });
    const settled = await waitFor("the learner to defer", async () => {
      const s = await feedback.getLearnerStatus({ model: "paced" });
      return s.training ? undefined : s;
    });
    expect(settled).toMatchObject({ currentVersion: "2", bufferedSamples: 1n });
    await expect(feedback.createOnlineModel({ name: "too-slow", task: Task.REGRESSION, minTrainIntervalMs: 90_000_000 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("min_train_interval_ms"),
    });
  });

  it("reports rolling performance per version", async () => {
    await feedback.createOnlineModel({
      name: "perf",
      task: Task.BINARY_CLASSIFICATION,
      updateThreshold: 1000,
      warmUp: false,
      trainingSamples: TrainingSamples.SIGNIFICANT_ERRORS,
    });
    const f = { x: create(FeatureValueSchema, { kind: { case: "doubleValue", value: 1 } }) };
    for (const label of [true, false, false, true]) {
      const p = await feedback.predict({ model: "perf", features: f });
      expect(p.prediction).toMatchObject({ value: 0.5, label: true });
      await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "label", value: label } } });
    }
    const perf = await feedback.getModelPerformance({ model: "perf" });
    expect(perf.versions).toHaveLength(1);
    expect(perf.versions[0]).toMatchObject({ version: "1", feedbackCount: 4n, windowCount: 4n, significantErrors: 2n, accuracy: 0.5 });
    expect(perf.versions[0]!.logLoss).toBeCloseTo(Math.log(2), 9);
    const metrics = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/openloop_feedback_accuracy\{model="perf",version="1"\} 0\.5/);
    // The two wrong labels went to the learner.
    expect(metrics).toMatch(/openloop_feedback_samples_accepted_total\{model="perf"\} 2/);
    expect(metrics).toMatch(/openloop_feedback_buffered_samples\{model="perf"\} 2/);
  });

  it("counts feedback for one prediction once, even when sent concurrently", async () => {
    await feedback.createOnlineModel({ name: "once", task: Task.REGRESSION });
    const p = await feedback.predict({ model: "once", features: featureMap([1, 2]) });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 5 } } })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(ConnectError.from(r.reason).code).toBe(Code.AlreadyExists);
    const perf = await feedback.getModelPerformance({ model: "once" });
    expect(perf.versions[0]!.feedbackCount).toBe(1n);
    const status = await feedback.getLearnerStatus({ model: "once" });
    expect(status.bufferedSamples).toBe(1n);
  });

  it("answers NOT_FOUND for an unknown prediction id", async () => {
    await expect(feedback.submitFeedback({ predictionId: "no-such-id", actual: { kind: { case: "value", value: 1 } } })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("records predictions made elsewhere and takes feedback on them", async () => {
    await feedback.createOnlineModel({ name: "elsewhere", task: Task.REGRESSION });
    const r = await feedback.recordPrediction({ model: "elsewhere", features: featureMap([1]), prediction: { value: 3 }, predictionId: "order-42" });
    expect(r.predictionId).toBe("order-42");
    await expect(
      feedback.recordPrediction({ model: "elsewhere", features: featureMap([1]), prediction: { value: 3 }, predictionId: "order-42" }),
    ).rejects.toMatchObject({ code: Code.AlreadyExists });
    const f = await feedback.submitFeedback({ predictionId: "order-42", actual: { kind: { case: "value", value: 3.25 } } });
    expect(f).toMatchObject({ error: 0.25, sentToLearner: true, model: "elsewhere", modelVersion: "1" });
  });

  it("works over the Connect protocol on HTTP/1.1 too", async () => {
    const web = createClient(FeedbackService, server.connect);
    await web.createOnlineModel({ name: "web", task: Task.REGRESSION, updateThreshold: 10 });
    const res = await web.ingestSampleBatch({ model: "web", samples: samples(makeRows("regression", 10, 41), "regression") });
    expect(res.accepted).toBe(10n);
    await waitFor("version 2", async () => ((await web.getOnlineModel({ name: "web" })).model!.currentVersion === "2" ? true : undefined));
  });
});
