// pipeline.maxPipelines and feature.limits.maxFeatureSets are exact across replicas on shared
// storage (issue #14, item 5): three replicas on one PostgreSQL creating at once, round-robin,
// store exactly the limit; every other create is RESOURCE_EXHAUSTED, and a name already taken
// is still ALREADY_EXISTS.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { otherServicesIdle, T } from "../feature/helpers.js";
import { failure, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "../pipeline/helpers.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

let backend: SharedBackend;
beforeAll(async () => {
  backend = await startSharedBackend();
});
afterAll(async () => {
  await backend?.teardown();
});

const LIMIT = 3;

/** The codes of `calls` creates run at once ("OK" for a success), sorted. */
async function codes(calls: Promise<unknown>[]): Promise<string[]> {
  const outcomes = await Promise.all(calls.map((c) => c.then(() => "OK", (err: unknown) => Code[ConnectError.from(err).code])));
  return outcomes.sort();
}

describe("pipeline.maxPipelines across three replicas", () => {
  let replicas: PipelineServer[] = [];
  beforeAll(async () => {
    const config = await backend.config("count_limit_pipelines");
    replicas = await Promise.all([0, 1, 2].map(() => startPipelineServer({ ...config, pipeline: { maxPipelines: LIMIT } })));
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
  });

  const simple = () => spec({ inputVariables: ["text"], preprocess: [{ template: { template: "Summarize: {{text}}" } }], generate: [{ llmGenerate: { model: MODEL } }] });

  it("stores exactly maxPipelines of creates racing through every replica", async () => {
    const names = Array.from({ length: 9 }, () => uniqueName());
    const result = await codes(names.map((name, i) => replicas[i % 3]!.client.createPipeline({ name, spec: simple() })));
    expect(result).toEqual([...Array(LIMIT).fill("OK"), ...Array(9 - LIMIT).fill("ResourceExhausted")].sort());
    await expect.poll(async () => (await replicas[2]!.client.listPipelines({ pageSize: 100 })).pipelines.length, { timeout: 2_000 }).toBe(LIMIT);
    // At the limit, a name that exists is still ALREADY_EXISTS.
    const stored = (await replicas[0]!.client.listPipelines({ pageSize: 100 })).pipelines[0]!.name;
    expect(ConnectError.from(await failure(() => replicas[1]!.client.createPipeline({ name: stored, spec: simple() }))).code).toBe(Code.AlreadyExists);
  });
});

describe("feature.limits.maxFeatureSets across three replicas", () => {
  let replicas: { server: TestServer; client: Client<typeof FeatureService> }[] = [];
  beforeAll(async () => {
    const config = await backend.config("count_limit_feature_sets");
    replicas = await Promise.all(
      [0, 1, 2].map(async () => {
        const server = await startTestServer({ ...otherServicesIdle, ...config, feature: { limits: { maxFeatureSets: LIMIT } } });
        return { server, client: createClient(FeatureService, server.grpc) };
      }),
    );
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.server.close()));
  });

  it("stores exactly maxFeatureSets of creates racing through every replica", async () => {
    const names = Array.from({ length: 9 }, (_, i) => `limited_${i}`);
    const result = await codes(names.map((name, i) => replicas[i % 3]!.client.createFeatureSet({ featureSet: { name, features: [{ name: "age", type: T.INT64 }] } })));
    expect(result).toEqual([...Array(LIMIT).fill("OK"), ...Array(9 - LIMIT).fill("ResourceExhausted")].sort());
    await expect.poll(async () => (await replicas[1]!.client.listFeatureSets({ pageSize: 100 })).featureSets.length, { timeout: 2_000 }).toBe(LIMIT);
    const stored = (await replicas[0]!.client.listFeatureSets({ pageSize: 100 })).featureSets[0]!.name;
    expect(ConnectError.from(await failure(() => replicas[2]!.client.createFeatureSet({ featureSet: { name: stored, features: [{ name: "age", type: T.INT64 }] } }))).code).toBe(Code.AlreadyExists);
  });
});
