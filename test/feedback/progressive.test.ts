// Progressive validation: every ingested sample and every feedback outcome is scored by
// the version serving at that moment, before it is learned (GetModelPerformance).
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureValueSchema, type FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { featureMap, makeRows } from "./synthetic.js";

let server: TestServer;
let feedback: Client<typeof FeedbackService>;

const num = (value: number): FeatureValue => create(FeatureValueSchema, { kind: { case: "doubleValue", value } });
const value = (v: number) => ({ kind: { case: "value" as const, value: v } });
const label = (v: boolean) => ({ kind: { case: "label" as const, value: v } });

beforeAll(async () => {
  server = await startTestServer();
  feedback = createClient(FeedbackService, server.grpc);
});
afterAll(async () => {
  await server?.close();
});

async function until(probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("progressive validation", () => {
  it("scores ingested samples with the serving version before learning them", async () => {
    // Version 1 has zero weights and predicts 0: its progressive MAE is the mean |target|.
    await feedback.createOnlineModel({ name: "prog-reg", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    const targets = [1, -3, 2, 6];
    const res = await feedback.ingestSampleBatch({ model: "prog-reg", samples: targets.map((y, i) => ({ features: { x: num(i) }, outcome: value(y) })) });
    expect(res.accepted).toBe(4n);

    const perf = await feedback.getModelPerformance({ model: "prog-reg" });
    expect(perf.progressive?.count).toBe(4n);
    expect(perf.progressive?.mae).toBeCloseTo(3, 12);
    expect(perf.progressive?.rmse).toBeCloseTo(Math.sqrt((1 + 9 + 4 + 36) / 4), 12);
    expect(perf.versions.map((v) => [v.version, v.progressive?.count, v.feedbackCount])).toEqual([["1", 4n, 0n]]);
  });

  it("scores dense rows and reports accuracy and log loss for classification", async () => {
    await feedback.createOnlineModel({ name: "prog-clf", task: Task.BINARY_CLASSIFICATION, updateThreshold: 1000, warmUp: false });
    // Version 1 predicts 0.5 (label true) for every row: log loss ln 2, accuracy the share of true labels.
    await feedback.ingestSampleBatch({
      model: "prog-clf",
      dense: [{ featureNames: ["a", "b"], values: [1, 2, 3, 4, 5, 6, 7, 8], labels: [true, false, false, false] }],
    });
    const perf = await feedback.getModelPerformance({ model: "prog-clf" });
    expect(perf.progressive?.count).toBe(4n);
    expect(perf.progressive?.accuracy).toBeCloseTo(0.25, 12);
    expect(perf.progressive?.logLoss).toBeCloseTo(Math.LN2, 12);
  });

  it("attributes each sample to the version serving when it arrived, and totals every version", async () => {
    await feedback.createOnlineModel({ name: "prog-learn", task: Task.REGRESSION, updateThreshold: 200, warmUp: false });
    const rows = makeRows("regression", 200, 7);
    const batch = (from: number, to: number) => rows.slice(from, to).map((r) => ({ features: featureMap(r.x), outcome: value(r.y) }));
    await feedback.ingestSampleBatch({ model: "prog-learn", samples: batch(0, 200) });
    await until(async () => (await feedback.getLearnerStatus({ model: "prog-learn" })).currentVersion === "2");
    await feedback.ingestSampleBatch({ model: "prog-learn", samples: batch(0, 100) });

    const perf = await feedback.getModelPerformance({ model: "prog-learn" });
    const byVersion = new Map(perf.versions.map((v) => [v.version, v.progressive!]));
    expect(byVersion.get("1")?.count).toBe(200n);
    expect(byVersion.get("2")?.count).toBe(100n);
    expect(perf.progressive?.count).toBe(300n);
    // Version 2 learned from these rows: it scores them better than version 1 did.
    expect(byVersion.get("2")!.mae).toBeLessThan(byVersion.get("1")!.mae);
    const overall = (200 * byVersion.get("1")!.mae + 100 * byVersion.get("2")!.mae) / 300;
    expect(perf.progressive?.mae).toBeCloseTo(overall, 9);
    // Naming one version still reports the progressive score over all of them.
    const one = await feedback.getModelPerformance({ model: "prog-learn", version: "2" });
    expect(one.versions.map((v) => v.version)).toEqual(["2"]);
    expect(one.progressive?.count).toBe(300n);
  });

  it("scores feedback with the version serving when the outcome arrives", async () => {
    await feedback.createOnlineModel({ name: "prog-fb", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    const p = await feedback.predict({ model: "prog-fb", features: { x: num(1) } });
    await feedback.submitFeedback({ predictionId: p.predictionId, actual: value(5) });
    const perf = await feedback.getModelPerformance({ model: "prog-fb" });
    expect(perf.progressive?.count).toBe(1n);
    expect(perf.progressive?.mae).toBeCloseTo(5, 12);
    expect(perf.versions[0]?.feedbackCount).toBe(1n);
    expect(perf.versions[0]?.progressive?.count).toBe(1n);
  });

  it("does not score a resent batch again", async () => {
    await feedback.createOnlineModel({ name: "prog-dup", task: Task.REGRESSION, updateThreshold: 1000, warmUp: false });
    const req = { model: "prog-dup", batchId: "b-1", samples: [{ features: { x: num(1) }, outcome: value(2) }] };
    await feedback.ingestSampleBatch(req);
    await feedback.ingestSampleBatch(req);
    expect((await feedback.getModelPerformance({ model: "prog-dup" })).progressive?.count).toBe(1n);
  });

  it("counts classification feedback as correct when the serving version gets the label right", async () => {
    await feedback.createOnlineModel({ name: "prog-fb-clf", task: Task.BINARY_CLASSIFICATION, updateThreshold: 1000, warmUp: false });
    const p = await feedback.predict({ model: "prog-fb-clf", features: { x: num(1) } });
    await feedback.submitFeedback({ predictionId: p.predictionId, actual: label(true) });
    const perf = await feedback.getModelPerformance({ model: "prog-fb-clf" });
    expect(perf.progressive?.accuracy).toBe(1);
    expect(perf.progressive?.logLoss).toBeCloseTo(Math.LN2, 12);
  });
});
