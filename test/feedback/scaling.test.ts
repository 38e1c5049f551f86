// Learning invariant to scale: online standardization of features and targets, its state in
// the artifact, and its setting on the wire.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, Scaling, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { decodeArtifact, encodeArtifact } from "../../src/feedback/artifact.js";
import { SparseVector, vectorize } from "../../src/feedback/hashing.js";
import { LinearModel, type Hyperparameters } from "../../src/feedback/linear.js";
import { startTestServer } from "../support/server.js";
import { featureMap, gaussian, rng } from "./synthetic.js";

const BUCKETS = 1 << 18;
const DEFAULTS: Hyperparameters = { learningRate: 0.1, l2: 1e-4, buckets: BUCKETS, optimizer: "adagrad", epochs: 1, scaling: "standardize" };

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * Like River's TrumpApproval: a target near 40 that follows five noisy polls, plus a day
 * number in the hundreds of thousands; nothing is scaled.
 */
function pollRows(n: number, seed: number): { x: number[]; y: number }[] {
  const g = gaussian(rng(seed));
  const rows: { x: number[]; y: number }[] = [];
  let level = 40;
  for (let i = 0; i < n; i++) {
    level += 0.05 * g();
    const polls = Array.from({ length: 5 }, () => level + 1.5 * g());
    rows.push({ x: [736_000 + i, ...polls], y: level + 0.2 * g() });
  }
  return rows;
}

function vectorOf(x: number[]): SparseVector {
  const v = new SparseVector();
  vectorize(featureMap(x), BUCKETS, v);
  return v;
}

describe("online standardization", () => {
  it("learns an unscaled target near 40 to a small error in one pass with the default settings", () => {
    const model = new LinearModel("regression", DEFAULTS);
    let absError = 0;
    const rows = pollRows(1000, 1);
    for (const r of rows) {
      const v = vectorOf(r.x);
      absError += Math.abs(model.predict(v.idx, v.val, v.nnz) - r.y);
      model.update(v.idx, v.val, v.nnz, r.y);
    }
    // Progressive MAE over the one pass.
    expect(absError / rows.length).toBeLessThan(1.5);
  });

  it("learns the same from features multiplied by 1000 as from the originals", () => {
    const a = new LinearModel("regression", DEFAULTS);
    const b = new LinearModel("regression", DEFAULTS);
    const rows = pollRows(300, 2);
    for (const r of rows) {
      const va = vectorOf(r.x);
      const vb = vectorOf(r.x.map((x) => x * 1000));
      a.update(va.idx, va.val, va.nnz, r.y);
      b.update(vb.idx, vb.val, vb.nnz, r.y);
    }
    const probe = pollRows(1, 3)[0]!.x;
    const va = vectorOf(probe);
    const vb = vectorOf(probe.map((x) => x * 1000));
    expect(b.predict(vb.idx, vb.val, vb.nnz)).toBeCloseTo(a.predict(va.idx, va.val, va.nnz), 6);
  });

  it("keeps its statistics in the artifact, so a decoded version predicts identically", () => {
    for (const task of ["regression", "classification"] as const) {
      const model = new LinearModel(task, DEFAULTS);
      for (const r of pollRows(200, 4)) {
        const v = vectorOf(r.x);
        model.update(v.idx, v.val, v.nnz, task === "regression" ? r.y : r.y > 40 ? 1 : 0);
      }
      const { header, model: back } = decodeArtifact(encodeArtifact(model));
      expect(header).toMatchObject({ formatVersion: 2, scaling: "standardize", target: model.target });
      for (const r of pollRows(20, 5)) {
        const v = vectorOf(r.x);
        expect(back.predict(v.idx, v.val, v.nnz)).toBe(model.predict(v.idx, v.val, v.nnz));
      }
    }
  });
});

describe("scaling over gRPC", () => {
  it("standardizes by default, takes SCALING_NONE, and refuses an unknown value naming the setting", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-scaling-"));
    dirs.push(dataDir);
    const server = await startTestServer({ dataDir });
    try {
      const client = createClient(FeedbackService, server.grpc);
      const made = await client.createOnlineModel({ name: "scaled", task: Task.REGRESSION });
      expect(made.model?.hyperparameters?.scaling).toBe(Scaling.STANDARDIZE);
      const raw = await client.createOnlineModel({ name: "raw", task: Task.REGRESSION, hyperparameters: { scaling: Scaling.NONE } });
      expect(raw.model?.hyperparameters?.scaling).toBe(Scaling.NONE);
      // AdaGrad's default step depends on the task (engine.ts, defaultLearningRate); a given one is kept.
      expect(made.model?.hyperparameters?.learningRate).toBe(0.1);
      const clf = await client.createOnlineModel({ name: "clf", task: Task.BINARY_CLASSIFICATION });
      expect(clf.model?.hyperparameters?.learningRate).toBe(0.2);
      const own = await client.createOnlineModel({ name: "own", task: Task.BINARY_CLASSIFICATION, hyperparameters: { learningRate: 0.05 } });
      expect(own.model?.hyperparameters?.learningRate).toBe(0.05);
      await expect(client.createOnlineModel({ name: "bad", task: Task.REGRESSION, hyperparameters: { scaling: 7 as Scaling } })).rejects.toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: expect.stringContaining("scaling"),
      });
    } finally {
      await server.close();
    }
  });

  it("trains a new model from its first sample, then at half the samples trained so far, up to the update threshold", async () => {
    const server = await startTestServer();
    try {
      const client = createClient(FeedbackService, server.grpc);
      const made = await client.createOnlineModel({ name: "warm", task: Task.REGRESSION });
      expect(made.model).toMatchObject({ warmUp: true, updateThreshold: 100 });
      const rows = pollRows(301, 8).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
      const settled = async () => {
        for (let i = 0; i < 400; i++) {
          const s = await client.getLearnerStatus({ model: "warm" });
          if (!s.training && s.bufferedSamples < BigInt(s.updateThreshold)) return s;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error("the learner did not settle");
      };
      expect((await settled()).updateThreshold).toBe(1);
      await client.ingestSampleBatch({ model: "warm", samples: rows.slice(0, 1) });
      expect(await settled()).toMatchObject({ currentVersion: "2", bufferedSamples: 0n, updateThreshold: 1 });
      await client.ingestSampleBatch({ model: "warm", samples: rows.slice(1) });
      expect(await settled()).toMatchObject({ currentVersion: "3", bufferedSamples: 0n, updateThreshold: 100 });
    } finally {
      await server.close();
    }
  });

  it("predicts identically with a trained standardized version after a restart", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-scaling-"));
    dirs.push(dataDir);
    const rows = pollRows(400, 6);
    const samples = rows.map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    const probe = featureMap(pollRows(1, 7)[0]!.x);
    const first = await startTestServer({ dataDir });
    const a = createClient(FeedbackService, first.grpc);
    await a.createOnlineModel({ name: "polls", task: Task.REGRESSION });
    await a.ingestSampleBatch({ model: "polls", samples });
    for (let i = 0; i < 400; i++) {
      const s = await a.getLearnerStatus({ model: "polls" });
      if (!s.training && s.bufferedSamples < BigInt(s.updateThreshold)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const before = await a.predict({ model: "polls", features: probe });
    expect(Math.abs(before.prediction!.value - 40)).toBeLessThan(5);
    await first.close();

    const second = await startTestServer({ dataDir });
    try {
      const after = await createClient(FeedbackService, second.grpc).predict({ model: "polls", features: probe });
      expect(after).toMatchObject({ modelVersion: before.modelVersion, prediction: { value: before.prediction!.value } });
    } finally {
      await second.close();
    }
  });
});
