// Feature-set definitions on both storage backends, and on shared storage across two replicas.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { i64, otherServicesIdle, rejection, setName, T } from "../feature/helpers.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

let backend: SharedBackend;
beforeAll(async () => {
  backend = await startSharedBackend();
});
afterAll(async () => {
  await backend?.teardown();
});

const featureSet = (name: string, description = "per user") => ({ name, description, features: [{ name: "age", type: T.INT64, required: true }] });

async function start(config: Record<string, unknown>): Promise<{ server: TestServer; client: Client<typeof FeatureService> }> {
  const server = await startTestServer({ ...otherServicesIdle, ...config });
  return { server, client: createClient(FeatureService, server.grpc) };
}

describe.each(["embedded", "shared"] as const)("feature sets on %s storage", (mode) => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start(mode === "shared" ? await backend.config("feature_contract") : { feature: { store: "memory" } });
  });
  afterAll(async () => {
    await s?.server.close();
  });

  it("creates a set once, serves values through it, and deletes it", async () => {
    const name = setName();
    await s.client.createFeatureSet({ featureSet: featureSet(name) });
    await rejection(s.client.createFeatureSet({ featureSet: featureSet(name) }), Code.AlreadyExists);
    expect((await s.client.getFeatureSet({ name })).featureSet!.description).toBe("per user");
    await s.client.putFeatures({ featureSet: name, entityKey: "u1", features: { age: i64(30) } });
    expect((await s.client.getFeatures({ featureSet: name, entityKey: "u1" })).features.age!.kind).toEqual(i64(30).kind);
    expect((await s.client.listFeatureSets({ pageSize: 1000 })).featureSets.map((f) => f.name)).toContain(name);
    await s.client.deleteFeatureSet({ name });
    await rejection(s.client.getFeatureSet({ name }), Code.NotFound);
    await rejection(s.client.deleteFeatureSet({ name }), Code.NotFound);
  });
});

describe("feature sets shared by two replicas", () => {
  let a: Awaited<ReturnType<typeof start>>;
  let b: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    const config = await backend.config("feature_replicas");
    a = await start(config);
    b = await start(config);
  });
  afterAll(async () => {
    await a?.server.close();
    await b?.server.close();
  });

  it("serves a set created through one replica through the other at once, with the same values", async () => {
    const name = setName();
    await a.client.createFeatureSet({ featureSet: featureSet(name) });
    await b.client.putFeatures({ featureSet: name, entityKey: "u1", features: { age: i64(41) } });
    expect((await a.client.getFeatures({ featureSet: name, entityKey: "u1" })).features.age!.kind).toEqual(i64(41).kind);
  });

  it("forgets a set deleted through the other replica within a second", async () => {
    const name = setName();
    await a.client.createFeatureSet({ featureSet: featureSet(name) });
    expect((await b.client.getFeatureSet({ name })).featureSet!.name).toBe(name);
    await a.client.deleteFeatureSet({ name });
    await expect.poll(() => b.client.getFeatureSet({ name }).then(() => "found", (e: unknown) => ConnectError.from(e).code), { timeout: 1_000, interval: 10 }).toBe(Code.NotFound);
  });

  it("lets exactly one of two replicas create the same set", async () => {
    const name = setName();
    const results = await Promise.allSettled([a.client.createFeatureSet({ featureSet: featureSet(name, "a") }), b.client.createFeatureSet({ featureSet: featureSet(name, "b") })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect(ConnectError.from(lost.reason).code).toBe(Code.AlreadyExists);
    const winner = results[0]!.status === "fulfilled" ? "a" : "b";
    await expect.poll(async () => (await b.client.getFeatureSet({ name })).featureSet!.description, { timeout: 1_000 }).toBe(winner);
    expect((await a.client.getFeatureSet({ name })).featureSet!.description).toBe(winner);
  });
});
