// Bad input over real connections: unknown models, wrong feature types, NaN labels,
// labels that do not fit the task; and feature sets processed through FeatureService.
import { create } from "@bufbuild/protobuf";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType, FeatureValueSchema, type FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, RejectionReason, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let feedback: Client<typeof FeedbackService>;

const num = (value: number): FeatureValue => create(FeatureValueSchema, { kind: { case: "doubleValue", value } });
const str = (value: string): FeatureValue => create(FeatureValueSchema, { kind: { case: "stringValue", value } });

beforeAll(async () => {
  server = await startTestServer();
  feedback = createClient(FeedbackService, server.grpc);
  await feedback.createOnlineModel({ name: "reg", task: Task.REGRESSION });
  await feedback.createOnlineModel({ name: "clf", task: Task.BINARY_CLASSIFICATION });
});
afterAll(async () => {
  await server?.close();
});

describe("ingestion of bad input", () => {
  it("accepts good samples and rejects each bad one with its reason and index", async () => {
    const res = await feedback.ingestSampleBatch({
      model: "reg",
      samples: [
        { features: { x: num(1) }, outcome: { kind: { case: "value", value: 2 } } },
        { model: "nope", features: { x: num(1) }, outcome: { kind: { case: "value", value: 2 } } },
        { features: { x: num(Number.NaN) }, outcome: { kind: { case: "value", value: 2 } } },
        { features: { x: num(1) }, outcome: { kind: { case: "value", value: Number.NaN } } },
        { features: { x: num(1) }, outcome: { kind: { case: "label", value: true } } },
        { features: { x: num(1) } },
        { model: "clf", features: { x: num(1) }, outcome: { kind: { case: "value", value: 1 } } },
        { model: "clf", features: { c: str("blue") }, outcome: { kind: { case: "label", value: false } } },
      ],
    });
    expect(res.accepted).toBe(2n);
    expect(res.rejected).toBe(6n);
    expect(res.rejections.map((r) => [Number(r.index), r.reason])).toEqual([
      [1, RejectionReason.UNKNOWN_MODEL],
      [2, RejectionReason.BAD_FEATURES],
      [3, RejectionReason.NON_FINITE_LABEL],
      [4, RejectionReason.WRONG_LABEL_TYPE],
      [5, RejectionReason.WRONG_LABEL_TYPE],
      [6, RejectionReason.WRONG_LABEL_TYPE],
    ]);
    expect(res.rejections[0]!.message).toContain("nope");
    expect((await feedback.getLearnerStatus({ model: "reg" })).bufferedSamples).toBe(1n);
    expect((await feedback.getLearnerStatus({ model: "clf" })).bufferedSamples).toBe(1n);
  });

  it("counts rejections across the messages of a stream by stream index", async () => {
    async function* messages() {
      yield { model: "reg", samples: [{ features: { x: num(1) }, outcome: { kind: { case: "value" as const, value: 1 } } }] };
      yield { model: "missing", samples: [{ features: { x: num(1) }, outcome: { kind: { case: "value" as const, value: 1 } } }] };
    }
    const res = await feedback.ingestSamples(messages());
    expect(res).toMatchObject({ accepted: 1n, rejected: 1n });
    expect(res.rejections[0]).toMatchObject({ index: 1n, reason: RejectionReason.UNKNOWN_MODEL });
  });

  it("answers NOT_FOUND when predicting with an unknown model", async () => {
    await expect(feedback.predict({ model: "nope", features: { x: num(1) } })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("answers INVALID_ARGUMENT for a prediction from non-finite features", async () => {
    await expect(feedback.predict({ model: "reg", features: { x: num(Number.POSITIVE_INFINITY) } })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("answers INVALID_ARGUMENT for feedback whose type does not fit the task, and still takes the right one after", async () => {
    const p = await feedback.predict({ model: "clf", features: { x: num(1) } });
    await expect(feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "value", value: 1 } } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const ok = await feedback.submitFeedback({ predictionId: p.predictionId, actual: { kind: { case: "label", value: false } } });
    expect(ok).toMatchObject({ error: 1, sentToLearner: true });
  });

  it("answers INVALID_ARGUMENT for a model without a task or with a bad name", async () => {
    await expect(feedback.createOnlineModel({ name: "notask" })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(feedback.createOnlineModel({ name: "../etc", task: Task.REGRESSION })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(feedback.createOnlineModel({ name: "big", task: Task.REGRESSION, hyperparameters: { hashBuckets: 1 << 30 } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });
});

describe("models with a feature set", () => {
  it("processes features through FeatureService and rejects samples of the wrong feature type", async () => {
    const features = createClient(FeatureService, server.grpc);
    await features.createFeatureSet({
      featureSet: {
        name: "people",
        features: [
          { name: "age", type: FeatureType.DOUBLE, required: true, transformers: [{ kind: { case: "standardize", value: { mean: 40, std: 10 } } }] },
        ],
      },
    });
    await feedback.createOnlineModel({ name: "people-model", task: Task.REGRESSION, featureSet: "people" });
    const res = await feedback.ingestSampleBatch({
      model: "people-model",
      samples: [
        { features: { age: num(50) }, outcome: { kind: { case: "value", value: 1 } } },
        { features: { age: str("fifty") }, outcome: { kind: { case: "value", value: 1 } } },
      ],
    });
    expect(res).toMatchObject({ accepted: 1n, rejected: 1n });
    expect(res.rejections[0]).toMatchObject({ index: 1n, reason: RejectionReason.BAD_FEATURES });
    await expect(feedback.predict({ model: "people-model", features: { age: str("x") } })).rejects.toMatchObject({ code: Code.InvalidArgument });
    const p = await feedback.predict({ model: "people-model", features: { age: num(50) } });
    expect(p.prediction!.value).toBe(0);
  });
});

describe("model definitions", () => {
  it("answers FAILED_PRECONDITION for a model naming a feature set that does not exist", async () => {
    await expect(feedback.createOnlineModel({ name: "no-set", task: Task.REGRESSION, featureSet: "nowhere" })).rejects.toMatchObject({
      code: Code.FailedPrecondition,
    });
    await expect(feedback.getOnlineModel({ name: "no-set" })).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("dense (columnar) ingestion", () => {
  it("hashes dense rows exactly like maps of doubles", async () => {
    await feedback.createOnlineModel({ name: "dense-a", task: Task.REGRESSION, updateThreshold: 2 });
    await feedback.createOnlineModel({ name: "dense-b", task: Task.REGRESSION, updateThreshold: 2 });
    const rows = [
      [1, 2],
      [3, -4],
    ];
    const targets = [5, 6];
    await feedback.ingestSampleBatch({ model: "dense-a", dense: [{ featureNames: ["x", "y"], values: rows.flat(), targets }] });
    await feedback.ingestSampleBatch({
      model: "dense-b",
      samples: rows.map((r, i) => ({ features: { x: num(r[0]!), y: num(r[1]!) }, outcome: { kind: { case: "value", value: targets[i]! } } })),
    });
    for (const m of ["dense-a", "dense-b"]) {
      for (let i = 0; i < 200; i++) {
        if ((await feedback.getLearnerStatus({ model: m })).currentVersion === "2") break;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    const a = await feedback.predict({ model: "dense-a", features: { x: num(1), y: num(1) } });
    const b = await feedback.predict({ model: "dense-b", features: { x: num(1), y: num(1) } });
    expect(a.modelVersion).toBe("2");
    expect(a.prediction!.value).not.toBe(0);
    expect(a.prediction!.value).toBe(b.prediction!.value);
  });

  it("rejects dense rows with non-finite values or targets, and labels for a regression model", async () => {
    await feedback.createOnlineModel({ name: "dense-bad", task: Task.REGRESSION });
    const res = await feedback.ingestSampleBatch({
      model: "dense-bad",
      samples: [{ features: { x: num(1) }, outcome: { kind: { case: "value", value: 1 } } }],
      dense: [
        { featureNames: ["x"], values: [1, Number.NaN, 3], targets: [1, 2, Number.POSITIVE_INFINITY] },
        { featureNames: ["x"], values: [1], labels: [true] },
      ],
    });
    expect(res).toMatchObject({ accepted: 2n, rejected: 3n });
    expect(res.rejections.map((r) => [Number(r.index), r.reason])).toEqual([
      [2, RejectionReason.BAD_FEATURES],
      [3, RejectionReason.NON_FINITE_LABEL],
      [4, RejectionReason.WRONG_LABEL_TYPE],
    ]);
  });

  it("answers INVALID_ARGUMENT for a dense block whose values do not fill its rows", async () => {
    await expect(
      feedback.ingestSampleBatch({ model: "dense-bad", dense: [{ featureNames: ["x", "y"], values: [1, 2, 3], targets: [1, 2] }] }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
