// GetFeatures and BatchGetFeatures responses, from the service with the embedded store:
// the bytes a response writes itself (for the gRPC transport) decode to the very message
// the same response gives when read and encoded by protobuf-es (Connect, in process).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HandlerContext } from "@connectrpc/connect";
import pino from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { BatchGetFeaturesResponseSchema, FeatureService, GetFeaturesResponseSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { BatchGetFeaturesResponse, GetFeaturesResponse } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureType, FeatureValueSchema } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { featureConfigSchema } from "../../src/feature/config.js";
import { MemoryFeatureStore } from "../../src/feature/memory-store.js";
import { encodeStored } from "../../src/feature/proto.js";
import { createFeatureService } from "../../src/feature/service.js";
import { FeatureSetRegistry } from "../../src/feature/set-registry.js";
import { encodeSelf, type SelfEncoding } from "../../src/platform/rpc/encode-self.js";
import { edgeValues, randomFeatures } from "./stored-samples.js";

const ctx = { signal: new AbortController().signal } as HandlerContext;
const lines: string[] = [];
let dir: string;
let store: MemoryFeatureStore;
let service: ReturnType<typeof createFeatureService>;
let registry: FeatureSetRegistry;
const entities = new Map([["edge", edgeValues], ...Array.from({ length: 40 }, (_, i) => [`r${i}`, randomFeatures(1000 + i)] as const)]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-feature-"));
  const limits = featureConfigSchema.parse({}).limits;
  registry = new FeatureSetRegistry(dir, limits, 10, pino({ level: "silent" }));
  await registry.load();
  store = new MemoryFeatureStore({ maxEntries: 1000, maxBytes: 1e9 });
  service = createFeatureService({ registry, store, limits, log: pino({ level: "error" }, { write: (l: string) => void lines.push(l) }) });
  // The set declares the names requests select; values go straight to the store, any name and type.
  await service.createFeatureSet(
    create(FeatureService.method.createFeatureSet.input, {
      featureSet: { name: "all", features: ["d", "i", "dl", "sl", "7", "b"].map((name) => ({ name, type: FeatureType.BOOL })) },
    }),
    ctx,
  );
  const { ref } = registry.require("all");
  for (const [entityKey, features] of entities) await store.put(ref, entityKey, encodeStored(features), 0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The response's own bytes, decoded and encoded again, equal the response encoded by protobuf-es. */
function expectSelfEncodingAgrees(schema: DescMessage, response: unknown) {
  const own = (response as SelfEncoding)[encodeSelf]();
  const reflective = toBinary(schema, create(schema, response as never));
  expect(toBinary(schema, fromBinary(schema, own))).toEqual(reflective);
  return reflective;
}

test("GetFeatures: the self-encoded response is the protobuf-es encoding of the message", async () => {
  for (const entityKey of entities.keys()) {
    for (const featureNames of [[], ["i", "sl", "7"], ["d", "dl", "b"]]) {
      const response = await service.getFeatures(create(FeatureService.method.getFeatures.input, { featureSet: "all", entityKey, featureNames }), ctx);
      const bytes = expectSelfEncodingAgrees(GetFeaturesResponseSchema, response);
      if (featureNames.length > 0) expect(Object.keys(fromBinary(GetFeaturesResponseSchema, bytes).features).every((n) => featureNames.includes(n))).toBe(true);
    }
  }
});

test("BatchGetFeatures: the self-encoded response is the protobuf-es encoding of the message, missing keys included", async () => {
  const entityKeys = [...entities.keys()].flatMap((k, i) => (i % 5 === 0 ? [k, `missing-${i}`] : [k]));
  for (const featureNames of [[], ["d", "i", "dl"]]) {
    const response = await service.batchGetFeatures(create(FeatureService.method.batchGetFeatures.input, { featureSet: "all", entityKeys, featureNames }), ctx);
    const decoded = fromBinary(BatchGetFeaturesResponseSchema, expectSelfEncodingAgrees(BatchGetFeaturesResponseSchema, response));
    expect(decoded.entities.map((e) => [e.entityKey, e.found])).toEqual(entityKeys.map((k) => [k, !k.startsWith("missing-")]));
  }
  const empty = await service.batchGetFeatures(create(FeatureService.method.batchGetFeatures.input, { featureSet: "all", entityKeys: [] }), ctx);
  expectSelfEncodingAgrees(BatchGetFeaturesResponseSchema, empty);
});

test("stored bytes that do not parse fail the call with INTERNAL on both paths, and are logged", async () => {
  const { ref } = registry.require("all");
  await store.put(ref, "corrupt", new Uint8Array([0x0a, 0x09, 0x0a]), 0);
  const get = await service.getFeatures(create(FeatureService.method.getFeatures.input, { featureSet: "all", entityKey: "corrupt" }), ctx);
  const batch = await service.batchGetFeatures(create(FeatureService.method.batchGetFeatures.input, { featureSet: "all", entityKeys: ["edge", "corrupt"] }), ctx);
  for (const run of [() => get.features, () => (get as unknown as SelfEncoding)[encodeSelf](), () => batch.entities, () => (batch as unknown as SelfEncoding)[encodeSelf]()]) {
    let caught: unknown;
    try {
      run();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConnectError);
    expect((caught as ConnectError).code).toBe(Code.Internal);
    expect((caught as ConnectError).rawMessage).toMatch(/^stored features do not parse/);
  }
  expect(lines.filter((l) => l.includes("stored features do not parse"))).toHaveLength(4);
});

test("a response whose fields were read encodes itself as it now is, and a copy of it carries no encoder", async () => {
  const response = (await service.getFeatures(create(FeatureService.method.getFeatures.input, { featureSet: "all", entityKey: "edge" }), ctx)) as GetFeaturesResponse & SelfEncoding;
  delete response.features.d;
  response.features.added = create(FeatureValueSchema, { kind: { case: "boolValue", value: true } });
  const own = fromBinary(GetFeaturesResponseSchema, response[encodeSelf]()).features;
  expect(own.d).toBeUndefined();
  expect(own.added.kind).toEqual({ case: "boolValue", value: true });
  expect(encodeSelf in { ...response }).toBe(false);

  const batch = (await service.batchGetFeatures(create(FeatureService.method.batchGetFeatures.input, { featureSet: "all", entityKeys: ["edge", "r1"] }), ctx)) as BatchGetFeaturesResponse & SelfEncoding;
  batch.entities.pop();
  expect(fromBinary(BatchGetFeaturesResponseSchema, batch[encodeSelf]()).entities.map((e) => e.entityKey)).toEqual(["edge"]);
});
