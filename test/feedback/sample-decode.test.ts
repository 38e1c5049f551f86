// The hand-written decoder of map-form samples against the reference (protobuf-es fromBinary,
// then vectorize) on random and hostile bytes, and over a real server: map-form and dense
// ingestion of the same rows train the same model; malformed bytes are INVALID_ARGUMENT.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureValueSchema, type FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, IngestSamplesRequestSchema, IngestSamplesResponseSchema, Task, type IngestSamplesRequest } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { FeatureError, SparseVector, vectorize } from "../../src/feedback/hashing.js";
import { decodeSamplesRequest, rawSamplesOf, releaseRawSamples } from "../../src/feedback/sample-decode.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { featureMap, makeRows, rng } from "./synthetic.js";

const BUCKETS = 1 << 18;

/** What the server learns from a sample, as the reference computes it. */
type Outcome = { model: string; kind: number; value: number; vector: [number, number][] | string };

function reference(req: IngestSamplesRequest): Outcome[] {
  const v = new SparseVector();
  return req.samples.map((s) => {
    const k = s.outcome?.kind;
    let vector: Outcome["vector"];
    try {
      vectorize(s.features, BUCKETS, v);
      vector = Array.from({ length: v.nnz - 1 }, (_, j) => [v.idx[j]!, v.val[j]!] as [number, number]);
    } catch (err) {
      if (!(err instanceof FeatureError)) throw err;
      vector = err.message;
    }
    return { model: s.model, kind: k?.case === "value" ? 1 : k?.case === "label" ? 2 : 0, value: k?.case === "value" ? k.value : k?.value ? 1 : 0, vector };
  });
}

function fast(req: IngestSamplesRequest): Outcome[] {
  const raw = rawSamplesOf(req);
  if (!raw) return reference(req);
  expect(req.samples).toEqual([]);
  return Array.from({ length: raw.count }, (_, i) => {
    let vector: Outcome["vector"] = [];
    for (let e = raw.offsets[i]!; e < raw.offsets[i + 1]!; e++) {
      const x = raw.values[e]!;
      if (!Number.isFinite(x)) {
        // Ingestion asks the reference for the message of a sample with a bad feature.
        vector = "bad";
        break;
      }
      vector.push([raw.hashes[e]! % BUCKETS, x]);
    }
    return { model: raw.models[i]!, kind: raw.outcomeKind[i]!, value: raw.outcome[i]!, vector };
  });
}

const bad = (o: Outcome[]) => o.map((x) => (typeof x.vector === "string" ? { ...x, vector: "bad" } : x));

/** Decodes with both and compares: same error or same request and samples; returns whether the fast path ran. */
function agree(bytes: Uint8Array): boolean | "error" {
  let ref: IngestSamplesRequest | undefined;
  let refErr: unknown;
  try {
    ref = fromBinary(IngestSamplesRequestSchema, bytes);
  } catch (err) {
    refErr = err;
  }
  let got: IngestSamplesRequest | undefined;
  try {
    got = decodeSamplesRequest(IngestSamplesRequestSchema, bytes);
  } catch (err) {
    expect(refErr, `fast decoding threw ${String(err)} where fromBinary did not`).toBeDefined();
    return "error";
  }
  expect(refErr, "fromBinary threw where the fast decoder did not").toBeUndefined();
  expect(got.model).toBe(ref!.model);
  expect(got.batchId).toBe(ref!.batchId);
  expect(got.dense).toEqual(ref!.dense);
  const raw = rawSamplesOf(got);
  expect(fast(got)).toEqual(raw ? bad(reference(ref!)) : reference(ref!));
  if (raw) releaseRawSamples(raw);
  return raw !== undefined;
}

const NAMES = ["f0", "x", "price", "", "größe", "名前", "0", "12", "007", "1e3", "__proto__", "constructor", "a=b", "😀", "f1", "toString", "__prot_"];

function randomValue(u: () => number): FeatureValue {
  const r = u();
  const pick = Math.floor(u() * 12);
  switch (pick) {
    case 0:
      return create(FeatureValueSchema, { kind: { case: "int64Value", value: BigInt(Math.floor((u() - 0.5) * 2 ** 40)) * (u() < 0.3 ? 2n ** 20n : 1n) } });
    case 1:
      return create(FeatureValueSchema, { kind: { case: "boolValue", value: u() < 0.5 } });
    case 2:
      return create(FeatureValueSchema, { kind: { case: "stringValue", value: ["red", "", "blå", "名", "a=b"][Math.floor(u() * 5)]! } });
    case 3:
      return create(FeatureValueSchema, { kind: { case: "doubleList", value: { values: [r, -r] } } });
    case 4:
      return create(FeatureValueSchema, {});
    case 5:
      return create(FeatureValueSchema, { kind: { case: "doubleValue", value: [Number.NaN, Infinity, -0, 1e308, 5e-324][Math.floor(u() * 5)]! } });
    default:
      return create(FeatureValueSchema, { kind: { case: "doubleValue", value: (r - 0.5) * 1000 } });
  }
}

function randomRequest(u: () => number, samples: number): IngestSamplesRequest {
  return create(IngestSamplesRequestSchema, {
    model: u() < 0.5 ? "m" : "",
    batchId: u() < 0.3 ? "b-1" : "",
    samples: Array.from({ length: samples }, () => {
      const features: Record<string, FeatureValue> = {};
      const n = Math.floor(u() * 6);
      for (let j = 0; j < n; j++) features[u() < 0.6 ? `f${Math.floor(u() * 30)}` : NAMES[Math.floor(u() * NAMES.length)]!] = randomValue(u);
      const o = u();
      return {
        model: u() < 0.2 ? "other" : "",
        features,
        outcome: o < 0.4 ? { kind: { case: "value" as const, value: u() * 10 } } : o < 0.8 ? { kind: { case: "label" as const, value: u() < 0.5 } } : o < 0.9 ? {} : undefined,
      };
    }),
    dense: u() < 0.2 ? [{ featureNames: ["a"], values: [1], targets: [2] }] : [],
  });
}

describe("map-form samples decoded from bytes", () => {
  it("gives what fromBinary and vectorize give, and takes the fast path for ordinary samples", () => {
    const rows = makeRows("regression", 50, 3);
    const plain = create(IngestSamplesRequestSchema, { model: "m", samples: rows.map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } })) });
    expect(agree(toBinary(IngestSamplesRequestSchema, plain))).toBe(true);
    const u = rng(7);
    let fastRuns = 0;
    for (let t = 0; t < 400; t++) if (agree(toBinary(IngestSamplesRequestSchema, randomRequest(u, 1 + Math.floor(u() * 4)))) === true) fastRuns++;
    // Most random requests hold only what the fast path reads.
    expect(fastRuns).toBeGreaterThan(40);
  });

  it("agrees with fromBinary on truncated, corrupted and re-encoded bytes", () => {
    const u = rng(11);
    const outcomes = { fast: 0, slow: 0, error: 0 };
    for (let t = 0; t < 1500; t++) {
      const good = toBinary(IngestSamplesRequestSchema, randomRequest(u, 1 + Math.floor(u() * 3)));
      let bytes: Uint8Array;
      const how = t % 4;
      if (how === 0) bytes = good.subarray(0, Math.floor(u() * good.length));
      else if (how === 1) {
        bytes = good.slice();
        for (let k = 0; k < 1 + Math.floor(u() * 3); k++) bytes[Math.floor(u() * bytes.length)] = Math.floor(u() * 256);
      } else if (how === 2) {
        // Random bytes spliced in: unknown fields, wrong wire types, overlong lengths.
        const at = Math.floor(u() * good.length);
        const junk = Uint8Array.from({ length: 1 + Math.floor(u() * 6) }, () => Math.floor(u() * 256));
        bytes = new Uint8Array([...good.subarray(0, at), ...junk, ...good.subarray(at)]);
      } else {
        // Two messages concatenated: repeated fields append, singular ones take the last value.
        bytes = new Uint8Array([...good, ...toBinary(IngestSamplesRequestSchema, randomRequest(u, 1))]);
      }
      const r = agree(bytes);
      outcomes[r === "error" ? "error" : r ? "fast" : "slow"]++;
    }
    expect(outcomes.error).toBeGreaterThan(100);
    expect(outcomes.fast).toBeGreaterThan(100);
  });

  it("hands non-canonical encodings to fromBinary: a key after its value, a repeated name, a repeated outcome", () => {
    // Sample { features: { entry: value then key } }
    const value = [0x12, 0x09, 0x09, ...new Uint8Array(new Float64Array([2.5]).buffer)];
    const key = [0x0a, 0x01, 0x78];
    const entry = [0x12, value.length + key.length, ...value, ...key];
    const sample = [0x12, entry.length, ...entry];
    expect(agree(new Uint8Array(sample))).toBe(false);
    const twice = [...entry, ...[0x12, key.length + value.length, ...key, ...value]];
    expect(agree(new Uint8Array([0x12, twice.length, ...twice]))).toBe(false);
    const outcome = [0x1a, 0x02, 0x10, 0x01, 0x1a, 0x09, 0x09, ...new Uint8Array(new Float64Array([4]).buffer)];
    expect(agree(new Uint8Array([0x12, outcome.length, ...outcome]))).toBe(true);
  });
});

describe("map-form ingestion over a real server", () => {
  let server: TestServer;
  let feedback: Client<typeof FeedbackService>;
  beforeAll(async () => {
    server = await startTestServer();
    feedback = createClient(FeedbackService, server.grpc);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("trains the same model from map-form samples as from the same rows in dense form", async () => {
    await feedback.createOnlineModel({ name: "maps", task: Task.REGRESSION, updateThreshold: 50 });
    await feedback.createOnlineModel({ name: "dense", task: Task.REGRESSION, updateThreshold: 50 });
    const rows = makeRows("regression", 400, 5);
    const names = Object.keys(featureMap(rows[0]!.x));
    const maps = await feedback.ingestSamples(
      (async function* () {
        for (let i = 0; i < rows.length; i += 100) {
          yield { model: "maps", samples: rows.slice(i, i + 100).map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } })) };
        }
      })(),
    );
    const dense = await feedback.ingestSamples(
      (async function* () {
        for (let i = 0; i < rows.length; i += 100) {
          const part = rows.slice(i, i + 100);
          yield { model: "dense", dense: [{ featureNames: names, values: part.flatMap((r) => r.x), targets: part.map((r) => r.y) }] };
        }
      })(),
    );
    expect(maps.accepted).toBe(400n);
    expect(dense.accepted).toBe(400n);
    for (const model of ["maps", "dense"]) {
      for (;;) {
        const s = await feedback.getLearnerStatus({ model });
        if (!s.training && s.bufferedSamples === 0n) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const probe = featureMap(makeRows("regression", 1, 99)[0]!.x);
    const a = await feedback.predict({ model: "maps", features: probe });
    const b = await feedback.predict({ model: "dense", features: probe });
    expect(a.modelVersion).toBe(b.modelVersion);
    expect(a.prediction?.value).toBe(b.prediction?.value);
    const pa = await feedback.getModelPerformance({ model: "maps" });
    const pb = await feedback.getModelPerformance({ model: "dense" });
    expect(pa.progressive?.mae).toBe(pb.progressive?.mae);
  });

  it("rejects bad features from map-form bytes with the reasons and messages of the reference path", async () => {
    await feedback.createOnlineModel({ name: "bad", task: Task.REGRESSION });
    const num = (value: number) => create(FeatureValueSchema, { kind: { case: "doubleValue", value } });
    const res = await feedback.ingestSampleBatch({
      model: "bad",
      samples: [
        { features: { x: num(1) }, outcome: { kind: { case: "value", value: 1 } } },
        { features: { x: num(Number.NaN) }, outcome: { kind: { case: "value", value: 1 } } },
        { features: { x: num(1) }, outcome: { kind: { case: "label", value: true } } },
        { model: "nope", features: { x: num(1) }, outcome: { kind: { case: "value", value: 1 } } },
      ],
    });
    expect(res.accepted).toBe(1n);
    expect(res.rejections.map((r) => [Number(r.index), r.message])).toEqual([
      [1, "feature 'x' is NaN; numbers must be finite"],
      [2, "a regression model needs a numeric outcome (outcome.value)"],
      [3, "online model 'nope' does not exist"],
    ]);
  });

  it("answers INVALID_ARGUMENT to malformed bytes and keeps serving", async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const good = toBinary(IngestSamplesRequestSchema, create(IngestSamplesRequestSchema, { model: "bad", samples: [{ features: { x: create(FeatureValueSchema, { kind: { case: "doubleValue", value: 1 } }) }, outcome: { kind: { case: "value", value: 1 } } }] }));
      const send = (bytes: Uint8Array) =>
        new Promise<grpc.ServiceError | undefined>((resolve) => {
          const call = client.makeClientStreamRequest(
            "/openloop.feedback.v1.FeedbackService/IngestSamples",
            (b: Uint8Array) => Buffer.from(b),
            (b: Buffer) => fromBinary(IngestSamplesResponseSchema, b),
            (err) => resolve(err ?? undefined),
          );
          call.write(bytes);
          call.end();
        });
      const err = await send(good.subarray(0, good.length - 3));
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err!.details.length).toBeLessThan(300);
      expect(await send(good)).toBeUndefined();
    } finally {
      client.close();
    }
    await expect(feedback.getLearnerStatus({ model: "bad" })).resolves.toBeDefined();
  });
});
