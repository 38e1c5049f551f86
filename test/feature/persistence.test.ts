// Feature sets survive restarts; sets declared in the config file are created and updated at start.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, beforeEach, expect, test } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { startTestServer } from "../support/server.js";
import { bool, dbl, i64, otherServicesIdle, range, rejection, standardize, T } from "./helpers.js";

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-feature-"));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function withServer<R>(config: Record<string, unknown>, run: (client: ReturnType<typeof createClient<typeof FeatureService>>) => Promise<R>): Promise<R> {
  const server = await startTestServer({ ...otherServicesIdle, dataDir, ...config });
  try {
    return await run(createClient(FeatureService, server.grpc));
  } finally {
    await server.close();
  }
}

test("a feature set created by RPC is still there, unchanged, after a restart", async () => {
  const featureSet = {
    name: "users",
    description: "per user",
    defaultTtl: { seconds: 120n },
    features: [{ name: "age", type: T.INT64, required: true, validators: [range(0, 150)], transformers: [standardize(40, 10)] }],
  };
  const created = await withServer({ feature: { store: "memory" } }, async (c) => (await c.createFeatureSet({ featureSet })).featureSet);
  const files = await readdir(path.join(dataDir, "feature-sets"));
  expect(files).toEqual(["users.json"]);
  await withServer({ feature: { store: "memory" } }, async (c) => {
    const { featureSet: again } = await c.getFeatureSet({ name: "users" });
    expect(again).toEqual(created);
    const out = await c.processFeatures({ featureSet: "users", features: { age: i64(50) } });
    expect(out.features.age.kind).toEqual({ case: "doubleValue", value: 1 });
    await rejection(c.createFeatureSet({ featureSet }), Code.AlreadyExists);
  });
});

test("values in Redis stay readable after a server restart", async () => {
  const feature = { store: "redis", redis: { url: process.env.OPENLOOP_TEST_REDIS_URL, keyPrefix: `persist:${process.pid}:${Date.now()}:`, commandTimeoutMs: 10_000 } };
  await withServer({ feature }, async (c) => {
    await c.createFeatureSet({ featureSet: { name: "kept", features: [{ name: "b", type: T.BOOL }] } });
    await c.putFeatures({ featureSet: "kept", entityKey: "e", features: { b: bool(true) } });
  });
  await withServer({ feature }, async (c) => {
    expect((await c.getFeatures({ featureSet: "kept", entityKey: "e" })).features.b.kind).toEqual({ case: "boolValue", value: true });
  });
});

test("a deleted set stays deleted after a restart", async () => {
  await withServer({}, async (c) => {
    await c.createFeatureSet({ featureSet: { name: "gone", features: [{ name: "b", type: T.BOOL }] } });
    await c.deleteFeatureSet({ name: "gone" });
  });
  await withServer({}, async (c) => {
    await rejection(c.getFeatureSet({ name: "gone" }), Code.NotFound);
  });
});

test("sets declared in the config are created at start and replaced when the config changes", async () => {
  const declare = (std: number) => ({
    feature: {
      sets: [{ name: "cfg", defaultTtl: "60s", features: [{ name: "x", type: "double", transformers: [{ standardize: { mean: 10, std } }] }] }],
    },
  });
  await withServer(declare(2), async (c) => {
    expect((await c.processFeatures({ featureSet: "cfg", features: { x: dbl(14) } })).features.x.kind).toEqual({ case: "doubleValue", value: 2 });
    await rejection(c.createFeatureSet({ featureSet: { name: "cfg", features: [{ name: "x", type: T.DOUBLE }] } }), Code.AlreadyExists);
  });
  await withServer(declare(4), async (c) => {
    expect((await c.processFeatures({ featureSet: "cfg", features: { x: dbl(14) } })).features.x.kind).toEqual({ case: "doubleValue", value: 1 });
    expect((await c.getFeatureSet({ name: "cfg" })).featureSet?.defaultTtl?.seconds).toBe(60n);
  });
});

test("a bad set in the config stops the start with every problem named", async () => {
  const bad = { feature: { sets: [{ name: "cfg", features: [{ name: "x", type: "string", transformers: [{ standardize: { mean: 0, std: -1 } }] }] }] } };
  await expect(startTestServer({ ...otherServicesIdle, dataDir, ...bad })).rejects.toThrow(/feature\.sets\[0\] \('cfg'\).*features\[0\]\.transformers\[0\]: feature 'x': standardize: applies to numeric features/s);
});

test("an unreadable set file is skipped, a crashed write's temp file removed, and the other sets still load", async () => {
  await withServer({}, async (c) => {
    await c.createFeatureSet({ featureSet: { name: "good", features: [{ name: "b", type: T.BOOL }] } });
  });
  await writeFile(path.join(dataDir, "feature-sets", "broken.json"), "{ not json");
  await writeFile(path.join(dataDir, "feature-sets", ".good.123.abcd.tmp"), "half a write");
  await withServer({}, async (c) => {
    const { featureSets } = await c.listFeatureSets({});
    expect(featureSets.map((s) => s.name)).toEqual(["good"]);
  });
  // The broken file stays for a person to look at; the temp file of a crashed write is cleaned up.
  expect((await readdir(path.join(dataDir, "feature-sets"))).sort()).toEqual(["broken.json", "good.json"]);
});

test("a config set in the documented YAML form (short types, proto JSON) processes features", async () => {
  const { parse } = await import("yaml");
  const config = parse(`
feature:
  sets:
    - name: users
      defaultTtl: 86400s
      features:
        - { name: age, type: int64, required: true, validators: [{ range: { min: 0, max: 150 } }], transformers: [{ standardize: { mean: 40, std: 12 } }] }
        - { name: country, type: string, transformers: [{ fillMissing: { value: { stringValue: "unknown" } } }, { oneHot: { vocabulary: [fr, de, unknown], unknownSlot: true } }] }
`) as Record<string, unknown>;
  await withServer(config, async (c) => {
    const out = await c.processFeatures({ featureSet: "users", features: { age: i64(52) } });
    expect(out.features.age.kind).toEqual({ case: "doubleValue", value: 1 });
    expect(out.features.country.kind).toEqual({ case: "doubleList", value: expect.objectContaining({ values: [0, 0, 1, 0] }) });
  });
});
