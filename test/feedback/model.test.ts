// The learner's building blocks, in process: hashing, SGD, the artifact format.
import { describe, expect, it } from "vitest";
import { decodeArtifact, encodeArtifact } from "../../src/feedback/artifact.js";
import { bucket, fnv1a, FeatureError, SparseVector, vectorize, type FeatureMap } from "../../src/feedback/hashing.js";
import { LinearModel, feedbackError } from "../../src/feedback/linear.js";
import { featureMap, makeRows, score, trueMargin } from "./synthetic.js";

const BUCKETS = 1 << 18;

function trainOn(model: LinearModel, rows: ReturnType<typeof makeRows>) {
  const v = new SparseVector();
  for (const r of rows) {
    vectorize(featureMap(r.x), BUCKETS, v);
    model.update(v.idx, v.val, v.nnz, r.y);
  }
}

function trainOn2(model: LinearModel, rows: ReturnType<typeof makeRows>, buckets: number) {
  const v = new SparseVector();
  for (const r of rows) {
    vectorize(featureMap(r.x), buckets, v);
    model.update(v.idx, v.val, v.nnz, r.y);
  }
}

function predictor(model: LinearModel) {
  const v = new SparseVector();
  return (x: number[]) => {
    vectorize(featureMap(x), BUCKETS, v);
    return model.predict(v.idx, v.val, v.nnz);
  };
}

describe("feature hashing", () => {
  it("hashes keys with the documented 32-bit FNV-1a over UTF-8", () => {
    // Reference values of FNV-1a 32 (as published with the algorithm).
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("hashes non-ASCII text exactly as its UTF-8 bytes", () => {
    for (const s of ["é", "日本語", "emoji 🎉", "mixed é🎉x"]) {
      const bytes = new TextEncoder().encode(s);
      let h = 0x811c9dc5;
      for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
      expect(fnv1a(s)).toBe(h >>> 0);
    }
  });

  it("maps every kind of feature value and ends with the bias", () => {
    const features: FeatureMap = {
      n: { kind: { case: "doubleValue", value: 2.5 } },
      i: { kind: { case: "int64Value", value: 3n } },
      s: { kind: { case: "stringValue", value: "red" } },
      b: { kind: { case: "boolValue", value: true } },
      dl: { kind: { case: "doubleList", value: { values: [1, 0, 2] } } },
      sl: { kind: { case: "stringList", value: { values: ["x", "y"] } } },
      missing: { kind: { case: undefined } },
    };
    const v = new SparseVector(2);
    vectorize(features, 1024, v);
    // n, i, s, b, dl[0], dl[1] (value 0), dl[2], sl x, sl y, bias
    expect(v.nnz).toBe(10);
    expect(v.idx[0]).toBe(fnv1a("n") % 1024);
    expect(v.val[0]).toBe(2.5);
    expect(v.idx[2]).toBe(fnv1a("s=red") % 1024);
    expect(v.idx[4]).toBe(fnv1a("dl[0]") % 1024);
    expect(v.idx[5]).toBe(fnv1a("dl[1]") % 1024);
    expect(v.val[5]).toBe(0);
    expect(v.idx[6]).toBe(fnv1a("dl[2]") % 1024);
    expect(v.val[6]).toBe(2);
    expect(v.idx[7]).toBe(fnv1a("sl=x") % 1024);
    expect(v.idx[9]).toBe(1024);
    expect(v.val[9]).toBe(1);
  });

  it("reduces a hash modulo the buckets, powers of two by their low bits", () => {
    const hashes = [0, 1, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff, -1, -0x21524111, fnv1a("foobar")];
    for (const buckets of [1, 2, 1024, 1 << 18, 1 << 24, 3, 1000, 1_000_003]) {
      for (const h of hashes) expect(bucket(h, buckets)).toBe((h >>> 0) % buckets);
    }
  });

  it("refuses non-finite numbers", () => {
    const v = new SparseVector();
    expect(() => vectorize({ x: { kind: { case: "doubleValue", value: Number.NaN } } }, 16, v)).toThrow(FeatureError);
    expect(() => vectorize({ x: { kind: { case: "doubleList", value: { values: [1, Infinity] } } } }, 16, v)).toThrow(FeatureError);
  });
});

describe("online linear models", () => {
  it("learns a linear regression to within 5% of the noise level of the true model", () => {
    const model = new LinearModel("regression", { learningRate: 0.1, l2: 1e-4, buckets: BUCKETS, optimizer: "adagrad", epochs: 1 });
    const heldOut = makeRows("regression", 2000, 2);
    const before = score("regression", heldOut, predictor(model)).rmse;
    trainOn(model, makeRows("regression", 5000, 1));
    const truth = score("regression", heldOut, (x) => trueMargin(x)).rmse;
    const after = score("regression", heldOut, predictor(model)).rmse;
    expect(after).toBeLessThan(truth * 1.05);
    expect(before).toBeGreaterThan(10 * after);
  });

  it("learns a logistic regression close to the true model's log loss, with Adam too", () => {
    const heldOut = makeRows("classification", 2000, 4);
    const truth = score("classification", heldOut, (x) => 1 / (1 + Math.exp(-trueMargin(x))));
    for (const optimizer of ["adagrad", "adam"] as const) {
      const model = new LinearModel("classification", { learningRate: optimizer === "adam" ? 0.01 : 0.1, l2: 1e-4, buckets: BUCKETS, optimizer, epochs: 1 });
      trainOn(model, makeRows("classification", 5000, 3));
      const s = score("classification", heldOut, predictor(model));
      expect(s.logLoss).toBeLessThan(truth.logLoss + 0.03);
      expect(s.accuracy).toBeGreaterThan(truth.accuracy - 0.03);
    }
  });

  it("syncs a reused model to another by its touched coordinates only, exactly", () => {
    const hp = { learningRate: 0.05, l2: 1e-3, buckets: 1024, optimizer: "adam" as const, epochs: 1 };
    const a = new LinearModel("regression", hp);
    const b = new LinearModel("regression", hp);
    const v = new SparseVector();
    vectorize({ stale: { kind: { case: "doubleValue", value: 3 } } }, 1024, v);
    b.update(v.idx, v.val, v.nnz, 7); // b holds state a never had
    trainOn2(a, makeRows("regression", 50, 1), 1024);
    b.copyFrom(a);
    expect(b.weights).toEqual(a.weights);
    expect(b.state1).toEqual(a.state1);
    expect(b.state2).toEqual(a.state2);
    expect(b.step).toBe(a.step);
    expect(a.clone().weights).toEqual(a.weights);
  });

  it("measures feedback error as absolute difference or label mismatch", () => {
    expect(feedbackError("regression", 2.5, 2)).toBe(0.5);
    expect(feedbackError("classification", 0.7, 1)).toBe(0);
    expect(feedbackError("classification", 0.7, 0)).toBe(1);
  });
});

describe("the linear artifact", () => {
  it("round-trips weights and optimizer state sparsely", () => {
    for (const optimizer of ["adagrad", "adam"] as const) {
      const model = new LinearModel("regression", { learningRate: 0.05, l2: 0.001, buckets: BUCKETS, optimizer, epochs: 2 });
      trainOn(model, makeRows("regression", 300, 9));
      const bytes = encodeArtifact(model);
      // 21 touched coordinates: far smaller than the dense 2^18 weights.
      expect(bytes.length).toBeLessThan(1024);
      const { header, model: back } = decodeArtifact(bytes);
      expect(header).toMatchObject({ format: "openloop-linear", task: "regression", optimizer, buckets: BUCKETS, nnz: 21, hash: "fnv1a32" });
      expect(back.weights).toEqual(model.weights);
      expect(back.state1).toEqual(model.state1);
      expect(back.state2).toEqual(model.state2);
      expect(back.step).toBe(model.step);
    }
  });

  it("refuses bytes that are not an artifact", () => {
    expect(() => decodeArtifact(Buffer.from("not a model at all"))).toThrow(/magic/);
    const good = encodeArtifact(new LinearModel("regression", { learningRate: 0.1, l2: 0, buckets: 8, optimizer: "adagrad", epochs: 1 }));
    expect(() => decodeArtifact(good.subarray(0, good.length - 1))).toThrow();
  });
});

