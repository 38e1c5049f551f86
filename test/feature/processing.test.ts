// ProcessFeatures over a real server: every validator and transformer, and how violations are reported.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { TestServer } from "../support/server.js";
import { startTestServer } from "../support/server.js";
import type { FeatureInit } from "./helpers.js";
import {
  allowed, blist, bool, bucketize, clip, dbl, dlist, fillMissing, hashBucket, i64, ilist, listLength, log1p, minMax, otherServicesIdle, oneHot,
  pattern, range, rejection, setName, slist, standardize, str, T, violations,
} from "./helpers.js";

let server: TestServer;
let client: Client<typeof FeatureService>;

beforeAll(async () => {
  server = await startTestServer({ ...otherServicesIdle, feature: { store: "memory", limits: { maxListLength: 100, maxFeaturesPerEntity: 20 } } });
  client = createClient(FeatureService, server.grpc);
});

afterAll(async () => {
  await server?.close();
});

/** Creates a set with these features and returns a function processing input through it. */
async function withSet(...features: FeatureInit[]) {
  const name = setName("p");
  await client.createFeatureSet({ featureSet: { name, features } });
  return (features: Record<string, ReturnType<typeof dbl> | ReturnType<typeof i64> | object>) => client.processFeatures({ featureSet: name, features: features as never });
}

async function processed(call: Promise<{ features: Record<string, { kind: unknown }> }>) {
  const out = await call;
  return Object.fromEntries(Object.entries(out.features).map(([k, v]) => [k, v.kind]));
}

describe("validators", () => {
  test("range accepts its inclusive bounds and refuses values outside them", async () => {
    const run = await withSet({ name: "age", type: T.INT64, validators: [range(0, 150)] });
    expect(await processed(run({ age: i64(0) }))).toEqual({ age: { case: "int64Value", value: 0n } });
    expect(await processed(run({ age: i64(150) }))).toEqual({ age: { case: "int64Value", value: 150n } });
    const low = violations(await rejection(run({ age: i64(-1) }), Code.InvalidArgument));
    expect(low).toEqual([{ field: "age", description: "-1 is below the minimum 0" }]);
    const high = violations(await rejection(run({ age: i64(151) }), Code.InvalidArgument));
    expect(high).toEqual([{ field: "age", description: "151 is above the maximum 150" }]);
  });

  test("range on a list names the first bad element and counts the others", async () => {
    const run = await withSet({ name: "scores", type: T.DOUBLE_LIST, validators: [range(0, 1)] });
    const v = violations(await rejection(run({ scores: dlist(0.5, 2, 0.1, -3) }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "scores", description: "element 1: 2 is above the maximum 1 (2 of 4 elements fail)" }]);
  });

  test("allowed values accepts members and refuses others, for strings and integers", async () => {
    const run = await withSet(
      { name: "country", type: T.STRING, validators: [allowed(str("fr"), str("de"))] },
      { name: "tier", type: T.INT64, validators: [allowed(i64(1), i64(2))] },
    );
    expect(await processed(run({ country: str("fr"), tier: i64(2) }))).toEqual({
      country: { case: "stringValue", value: "fr" },
      tier: { case: "int64Value", value: 2n },
    });
    const v = violations(await rejection(run({ country: str("us"), tier: i64(3) }), Code.InvalidArgument));
    expect(v.map((x) => x.field)).toEqual(["country", "tier"]);
    expect(v[0].description).toContain('"us" is not one of the allowed values ("fr", "de")');
  });

  test("pattern must match the whole string, for every element of a string list", async () => {
    const run = await withSet({ name: "sku", type: T.STRING, validators: [pattern("[A-Z]{3}-\\d+")] }, { name: "tags", type: T.STRING_LIST, validators: [pattern("[a-z]+")] });
    await run({ sku: str("ABC-12"), tags: slist("a", "bc") });
    const v = violations(await rejection(run({ sku: str("xABC-12"), tags: slist("ok", "NO") }), Code.InvalidArgument));
    expect(v).toEqual([
      { field: "sku", description: '"xABC-12" does not match the pattern /[A-Z]{3}-\\d+/' },
      { field: "tags", description: 'element 1: "NO" does not match the pattern /[a-z]+/' },
    ]);
  });

  test("pattern matches characters outside the BMP as single characters (unicode mode)", async () => {
    const run = await withSet({ name: "glyph", type: T.STRING, validators: [pattern(".")] });
    expect(await processed(run({ glyph: str("😀") }))).toEqual({ glyph: { case: "stringValue", value: "😀" } });
    expect(await processed(run({ glyph: str("é") }))).toEqual({ glyph: { case: "stringValue", value: "é" } });
    const v = violations(await rejection(run({ glyph: str("😀😀") }), Code.InvalidArgument));
    expect(v).toHaveLength(1);
  });

  test("a catastrophically backtracking pattern still answers, and the server keeps serving", async () => {
    // On a backtracking engine alone, (a+)+ against 40 a's and a b takes about 2^40 steps.
    const run = await withSet({ name: "word", type: T.STRING, validators: [pattern("(a+)+")] });
    const v = violations(await rejection(run({ word: str(`${"a".repeat(40)}b`) }), Code.InvalidArgument));
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ field: "word", description: expect.stringContaining("does not match the pattern /(a+)+/") });
    expect(await processed(run({ word: str("aaa") }))).toEqual({ word: { case: "stringValue", value: "aaa" } });
  });

  test("list length bounds the number of elements", async () => {
    const run = await withSet({ name: "emb", type: T.DOUBLE_LIST, validators: [listLength(2, 3)] });
    await run({ emb: dlist(1, 2) });
    expect(violations(await rejection(run({ emb: dlist(1) }), Code.InvalidArgument))[0].description).toBe("list has 1 elements, fewer than the minimum 2");
    expect(violations(await rejection(run({ emb: dlist(1, 2, 3, 4) }), Code.InvalidArgument))[0].description).toBe("list has 4 elements, more than the maximum 3");
  });

  test("a value of the wrong type is refused, naming the declared type", async () => {
    const run = await withSet({ name: "age", type: T.INT64 }, { name: "flags", type: T.BOOL_LIST });
    const v = violations(await rejection(run({ age: str("42"), flags: blist(true) }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "age", description: 'expected a int64 value, got string "42"' }]);
  });

  test("NaN and infinities are refused unless the feature allows them", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE }, { name: "v", type: T.DOUBLE_LIST }, { name: "y", type: T.DOUBLE, allowNonFinite: true });
    const v = violations(await rejection(run({ x: dbl(Number.NaN), v: dlist(1, Number.POSITIVE_INFINITY) }), Code.InvalidArgument));
    expect(v.map((x) => x.field)).toEqual(["x", "v"]);
    expect(v[0].description).toContain("NaN is not finite");
    const ok = await processed(run({ y: dbl(Number.NEGATIVE_INFINITY) }));
    expect(ok).toEqual({ y: { case: "doubleValue", value: Number.NEGATIVE_INFINITY } });
  });

  test("a missing required feature is a violation, and a default stands in for a missing one", async () => {
    const run = await withSet({ name: "id", type: T.STRING, required: true }, { name: "n", type: T.INT64, defaultValue: i64(7) }, { name: "opt", type: T.BOOL });
    expect(await processed(run({ id: str("a") }))).toEqual({ id: { case: "stringValue", value: "a" }, n: { case: "int64Value", value: 7n } });
    const v = violations(await rejection(run({ opt: bool(true) }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "id", description: "required string feature is missing" }]);
  });

  test("violations reach Connect JSON clients (the web console) as google.rpc.BadRequest details too", async () => {
    const name = setName("p");
    await client.createFeatureSet({ featureSet: { name, features: [{ name: "age", type: T.INT64, validators: [range(0, 10)] }] } });
    const web = createClient(FeatureService, server.connect);
    const v = violations(await rejection(web.processFeatures({ featureSet: name, features: { age: i64(11) } }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "age", description: "11 is above the maximum 10" }]);
  });

  test("an undeclared feature name is a violation", async () => {
    const run = await withSet({ name: "a", type: T.BOOL });
    const v = violations(await rejection(run({ a: bool(true), b: bool(false) }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "b", description: expect.stringContaining("declares no feature named 'b'") }]);
  });

  test("every violation is reported, each under its feature, in the message and the details", async () => {
    const run = await withSet(
      { name: "age", type: T.INT64, validators: [range(0, 10)] },
      { name: "name", type: T.STRING, required: true },
      { name: "score", type: T.DOUBLE },
      { name: "tags", type: T.STRING_LIST, validators: [listLength(undefined, 1)] },
    );
    const err = await rejection(run({ age: i64(11), score: dbl(Number.NaN), tags: slist("a", "b"), extra: bool(true) }), Code.InvalidArgument);
    const fields = violations(err).map((v) => v.field).sort();
    expect(fields).toEqual(["age", "extra", "name", "score", "tags"]);
    for (const f of fields) expect(err.rawMessage).toContain(`${f}: `);
  });
});

describe("transformers", () => {
  test("standardize maps integers to doubles, element-wise on lists", async () => {
    const run = await withSet({ name: "age", type: T.INT64, transformers: [standardize(40, 10)] }, { name: "v", type: T.INT64_LIST, transformers: [standardize(1, 2)] });
    expect(await processed(run({ age: i64(55), v: ilist(1, 5) }))).toEqual({
      age: { case: "doubleValue", value: 1.5 },
      v: { case: "doubleList", value: expect.objectContaining({ values: [0, 2] }) },
    });
  });

  test("min-max scaling maps min to 0 and max to 1", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE, transformers: [minMax(10, 20)] });
    expect(await processed(run({ x: dbl(15) }))).toEqual({ x: { case: "doubleValue", value: 0.5 } });
    expect(await processed(run({ x: dbl(30) }))).toEqual({ x: { case: "doubleValue", value: 2 } });
  });

  test("log1p transforms values above -1 and refuses the others", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE, transformers: [log1p()] });
    expect(await processed(run({ x: dbl(Math.E - 1) }))).toEqual({ x: { case: "doubleValue", value: Math.log1p(Math.E - 1) } });
    const v = violations(await rejection(run({ x: dbl(-1) }), Code.InvalidArgument));
    expect(v).toEqual([{ field: "x", description: "transformer log1p: log1p needs values above -1, got -1" }]);
  });

  test("clip limits a number and keeps its type", async () => {
    const run = await withSet({ name: "n", type: T.INT64, transformers: [clip(0.5, 9.5)] }, { name: "x", type: T.DOUBLE, transformers: [clip(undefined, 1)] });
    expect(await processed(run({ n: i64(-4), x: dbl(3) }))).toEqual({ n: { case: "int64Value", value: 1n }, x: { case: "doubleValue", value: 1 } });
    expect(await processed(run({ n: i64(100), x: dbl(-3) }))).toEqual({ n: { case: "int64Value", value: 9n }, x: { case: "doubleValue", value: -3 } });
  });

  test("bucketize gives the index of the bucket, a boundary value going to the upper bucket", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE, transformers: [bucketize(0, 10, 100)] }, { name: "l", type: T.INT64_LIST, transformers: [bucketize(0, 10, 100)] });
    expect(await processed(run({ x: dbl(-5), l: ilist(0, 9, 10, 1000) }))).toEqual({
      x: { case: "int64Value", value: 0n },
      l: { case: "int64List", value: expect.objectContaining({ values: [1n, 1n, 2n, 3n] }) },
    });
  });

  test("one-hot gives a double list with a 1 at the vocabulary index, multi-hot for string lists", async () => {
    const run = await withSet({ name: "c", type: T.STRING, transformers: [oneHot(["red", "green", "blue"])] }, { name: "cs", type: T.STRING_LIST, transformers: [oneHot(["a", "b", "c"])] });
    expect(await processed(run({ c: str("green"), cs: slist("a", "c") }))).toEqual({
      c: { case: "doubleList", value: expect.objectContaining({ values: [0, 1, 0] }) },
      cs: { case: "doubleList", value: expect.objectContaining({ values: [1, 0, 1] }) },
    });
  });

  test("one-hot refuses values outside the vocabulary unless it has an unknown slot", async () => {
    const strict = await withSet({ name: "c", type: T.STRING, transformers: [oneHot(["red", "green"])] });
    const v = violations(await rejection(strict({ c: str("pink") }), Code.InvalidArgument));
    expect(v[0].description).toContain('"pink" is not in the vocabulary of 2 values');
    const lenient = await withSet({ name: "c", type: T.STRING, transformers: [oneHot(["red", "green"], true)] });
    expect(await processed(lenient({ c: str("pink") }))).toEqual({ c: { case: "doubleList", value: expect.objectContaining({ values: [0, 0, 1] }) } });
  });

  test("hash bucket is FNV-1a 32-bit of the UTF-8 bytes modulo the bucket count", async () => {
    const run = await withSet({ name: "s", type: T.STRING, transformers: [hashBucket(1000)] }, { name: "ss", type: T.STRING_LIST, transformers: [hashBucket(1000)] }, { name: "n", type: T.INT64, transformers: [hashBucket(100)] });
    // FNV-1a("foobar") = 0xbf9cf968 = 3214735720 (reference vector); "héllo" and "a😀" check multi-byte UTF-8.
    expect(await processed(run({ s: str("foobar"), ss: slist("héllo", "a😀"), n: i64(12345) }))).toEqual({
      s: { case: "int64Value", value: 720n },
      ss: { case: "int64List", value: expect.objectContaining({ values: [0n, 201n] }) },
      n: { case: "int64Value", value: 24n },
    });
  });

  test("fill-missing fills a missing value, which the next transformers then see", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE, transformers: [fillMissing(dbl(20)), standardize(10, 5)] }, { name: "y", type: T.STRING, transformers: [fillMissing(str("none"))] });
    expect(await processed(run({}))).toEqual({ x: { case: "doubleValue", value: 2 }, y: { case: "stringValue", value: "none" } });
    expect(await processed(run({ x: dbl(15) }))).toEqual({ x: { case: "doubleValue", value: 1 }, y: { case: "stringValue", value: "none" } });
  });

  test("transformers apply in declaration order", async () => {
    const clipThenScale = await withSet({ name: "x", type: T.DOUBLE, transformers: [clip(0, 10), standardize(0, 2)] });
    const scaleThenClip = await withSet({ name: "x", type: T.DOUBLE, transformers: [standardize(0, 2), clip(0, 10)] });
    expect(await processed(clipThenScale({ x: dbl(30) }))).toEqual({ x: { case: "doubleValue", value: 5 } });
    expect(await processed(scaleThenClip({ x: dbl(30) }))).toEqual({ x: { case: "doubleValue", value: 10 } });
  });

  test("a transform that overflows to infinity is a violation", async () => {
    const run = await withSet({ name: "x", type: T.DOUBLE, transformers: [standardize(0, 1e-300)] });
    const v = violations(await rejection(run({ x: dbl(1e300) }), Code.InvalidArgument));
    expect(v[0].description).toContain("transformers produced a non-finite value Infinity");
  });
});

describe("feature set definitions", () => {
  test("a definition with many problems is refused with every problem listed by field", async () => {
    const err = await rejection(
      client.createFeatureSet({
        featureSet: {
          name: setName("bad"),
          features: [
            { name: "a", type: T.DOUBLE, transformers: [standardize(0, 0)] },
            { name: "b", type: T.STRING, validators: [pattern("(unclosed")] },
            { name: "c", type: T.STRING, transformers: [log1p()] },
            { name: "d", type: T.DOUBLE, transformers: [{}] },
            { name: "a", type: T.BOOL },
            { name: "e", type: T.INT64, defaultValue: str("x") },
            { name: "f" },
            { name: "g", type: T.DOUBLE, transformers: [bucketize(3, 1)] },
            { name: "h", type: T.STRING, transformers: [oneHot(["x"]), fillMissing(str("y"))] },
            { name: "i", type: T.INT64, validators: [range(5, 1)] },
          ],
        },
      }),
      Code.InvalidArgument,
    );
    expect(violations(err).map((v) => v.field)).toEqual([
      "features[0].transformers[0]",
      "features[1].validators[0]",
      "features[2].transformers[0]",
      "features[3].transformers[0]",
      "features[4].name",
      "features[5].default_value",
      "features[6].type",
      "features[7].transformers[0]",
      "features[8].transformers[1]",
      "features[9].validators[0]",
    ]);
    const text = violations(err).map((v) => v.description).join("\n");
    expect(text).toContain("std must be > 0");
    expect(text).toContain("invalid regular expression");
    expect(text).toContain("log1p: applies to numeric features");
    expect(text).toContain("no transformer kind set");
    expect(text).toContain("duplicate feature name 'a'");
    expect(text).toContain("boundaries must be strictly increasing");
    expect(text).toContain("value is a string, but the feature is a double_list at this step");
  });

  test("a bad set name is refused", async () => {
    const err = await rejection(client.createFeatureSet({ featureSet: { name: "../etc", features: [{ name: "a", type: T.BOOL }] } }), Code.InvalidArgument);
    expect(violations(err)[0].field).toBe("name");
  });

  test("creating a set twice answers ALREADY_EXISTS", async () => {
    const name = setName("dup");
    await client.createFeatureSet({ featureSet: { name, features: [{ name: "a", type: T.BOOL }] } });
    await rejection(client.createFeatureSet({ featureSet: { name, features: [{ name: "a", type: T.BOOL }] } }), Code.AlreadyExists);
  });

  test("of concurrent creates of one name exactly one wins, the others get ALREADY_EXISTS", async () => {
    const name = setName("race");
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.createFeatureSet({ featureSet: { name, features: [{ name: "a", type: T.BOOL }] } })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(ConnectError.from(r.reason).code).toBe(Code.AlreadyExists);
  });

  test("a set is read back as it was defined, with a create time", async () => {
    const name = setName("get");
    const features: FeatureInit[] = [{ name: "x", type: T.DOUBLE, required: true, validators: [range(0, 1)], transformers: [clip(0, 0.5), bucketize(0.25)], description: "a ratio" }];
    await client.createFeatureSet({ featureSet: { name, description: "demo", features, defaultTtl: { seconds: 60n } } });
    const { featureSet } = await client.getFeatureSet({ name });
    expect(featureSet?.description).toBe("demo");
    expect(featureSet?.defaultTtl?.seconds).toBe(60n);
    expect(featureSet?.createTime?.seconds).toBeGreaterThan(0n);
    expect(featureSet?.features[0].transformers.map((t) => t.kind.case)).toEqual(["clip", "bucketize"]);
  });

  test("an unknown set answers NOT_FOUND", async () => {
    await rejection(client.getFeatureSet({ name: "nope" }), Code.NotFound);
    await rejection(client.processFeatures({ featureSet: "nope", features: {} }), Code.NotFound);
  });

  test("sets are listed in name order, a page at a time", async () => {
    const prefix = setName("list");
    for (const n of ["c", "a", "b"]) await client.createFeatureSet({ featureSet: { name: `${prefix}-${n}`, features: [{ name: "a", type: T.BOOL }] } });
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await client.listFeatureSets({ pageSize: 2, pageToken });
      expect(page.featureSets.length).toBeLessThanOrEqual(2);
      names.push(...page.featureSets.map((s) => s.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const ours = names.filter((n) => n.startsWith(prefix));
    expect(ours).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    expect(names).toEqual([...names].sort());
  });

  test("a deleted set is gone", async () => {
    const name = setName("del");
    await client.createFeatureSet({ featureSet: { name, features: [{ name: "a", type: T.BOOL }] } });
    await client.deleteFeatureSet({ name });
    await rejection(client.getFeatureSet({ name }), Code.NotFound);
    await rejection(client.deleteFeatureSet({ name }), Code.NotFound);
  });

  test("a set declaring more features than the limit is refused, naming the limit", async () => {
    const features = Array.from({ length: 21 }, (_, i) => ({ name: `f${i}`, type: T.BOOL }));
    const err = await rejection(client.createFeatureSet({ featureSet: { name: setName("big"), features } }), Code.InvalidArgument);
    expect(err.rawMessage).toContain("max_features_per_entity=20");
  });

  test("a request with hundreds of violations gets them all counted, the first 100 in the details", async () => {
    const features = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, type: T.INT64, validators: [range(0, 1)] }));
    const name = setName("many");
    const local = await startTestServer({ ...otherServicesIdle, feature: { store: "memory" } });
    try {
      const c = createClient(FeatureService, local.grpc);
      await c.createFeatureSet({ featureSet: { name, features } });
      const input = Object.fromEntries(features.map((f) => [f.name, i64(5)]));
      const err = await rejection(c.processFeatures({ featureSet: name, features: input }), Code.InvalidArgument);
      expect(err.rawMessage).toContain("300 violation(s)");
      expect(err.rawMessage).toContain("lists 100 of 300");
      expect(violations(err)).toHaveLength(100);
    } finally {
      await local.close();
    }
  });

  test("a request with more features than the limit gets that one violation, not one per feature", async () => {
    const run = await withSet({ name: "a", type: T.BOOL });
    const input = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x${i}`, bool(true)]));
    const err = await rejection(run(input), Code.InvalidArgument);
    expect(violations(err)).toEqual([{ field: "features", description: "21 features exceed the limit max_features_per_entity=20" }]);
  });

  test("a list longer than the limit is refused, naming the limit", async () => {
    const run = await withSet({ name: "v", type: T.DOUBLE_LIST });
    const err = await rejection(run({ v: dlist(...new Array(101).fill(1)) }), Code.InvalidArgument);
    expect(violations(err)).toEqual([{ field: "v", description: "list of 101 elements exceeds the limit max_list_length=100" }]);
  });
});
