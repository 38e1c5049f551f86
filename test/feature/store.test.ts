// The feature store through the service, against the embedded store and a real Redis:
// typed round trips, TTLs, batch reads, deletes, and bad input.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import http2 from "node:http2";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Redis } from "ioredis";
import { BatchGetFeaturesRequestSchema, FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { StoredFeaturesSchema } from "../../gen/openloop/feature/v1/feature_store_pb.js";
import type { TestServer } from "../support/server.js";
import { startTestServer } from "../support/server.js";
import type { FeatureInit } from "./helpers.js";
import { blist, bool, dbl, dlist, i64, ilist, otherServicesIdle, rejection, setName, slist, standardize, str, T, violations } from "./helpers.js";

const redisUrl = process.env.OPENLOOP_TEST_REDIS_URL;

// A long command timeout: these tests are about behaviour, not timeouts, and may share a busy machine.
const backends = [
  { name: "embedded memory store", config: { feature: { store: "memory" } } },
  { name: "redis store", config: { feature: { store: "redis", redis: { url: redisUrl, keyPrefix: `test:${process.pid}:`, commandTimeoutMs: 10_000 } } } },
];

const allTypes = [
  { name: "d", type: T.DOUBLE },
  { name: "i", type: T.INT64 },
  { name: "s", type: T.STRING },
  { name: "b", type: T.BOOL },
  { name: "dl", type: T.DOUBLE_LIST },
  { name: "il", type: T.INT64_LIST },
  { name: "sl", type: T.STRING_LIST },
  { name: "bl", type: T.BOOL_LIST },
];

describe.each(backends)("with the $name", ({ config }) => {
  let server: TestServer;
  let client: Client<typeof FeatureService>;
  let connectClient: Client<typeof FeatureService>;

  beforeAll(async () => {
    expect(redisUrl, "OPENLOOP_TEST_REDIS_URL is set by the vitest global setup").toBeTruthy();
    server = await startTestServer({ ...otherServicesIdle, ...config, feature: { ...config.feature, limits: { maxEntityKeyBytes: 64, maxBatchSize: 2000, maxListLength: 1000, maxStringLength: 1000 } } });
    client = createClient(FeatureService, server.grpc);
    connectClient = createClient(FeatureService, server.connect);
  });

  afterAll(async () => {
    await server?.close();
  });

  async function newSet(features: FeatureInit[] = allTypes, defaultTtl?: { seconds: bigint; nanos?: number }) {
    const name = setName("st");
    await client.createFeatureSet({ featureSet: { name, features, defaultTtl } });
    return name;
  }

  const everyType = {
    d: dbl(-1.5e-300),
    i: i64(-(2n ** 63n)),
    s: str("ünïcode ✓ \u0000 nul"),
    b: bool(false),
    dl: dlist(1.25, -0, 1e308),
    il: ilist(2n ** 63n - 1n, 0n, -7n),
    sl: slist("", "a", "😀"),
    bl: blist(true, false, true),
  };

  test("values of every type round-trip exactly over gRPC and over Connect JSON", async () => {
    const featureSet = await newSet();
    await client.putFeatures({ featureSet, entityKey: "e1", features: everyType });
    for (const c of [client, connectClient]) {
      const got = await c.getFeatures({ featureSet, entityKey: "e1" });
      expect(Object.fromEntries(Object.entries(got.features).map(([k, v]) => [k, v.kind]))).toEqual(
        Object.fromEntries(Object.entries(everyType).map(([k, v]) => [k, expect.objectContaining({ case: v.kind.case })])),
      );
      expect(got.features.i.kind.value).toBe(-(2n ** 63n));
      expect((got.features.il.kind.value as { values: bigint[] }).values).toEqual([2n ** 63n - 1n, 0n, -7n]);
      expect(got.features.d.kind.value).toBe(-1.5e-300);
      expect(got.features.s.kind.value).toBe("ünïcode ✓ \u0000 nul");
      expect((got.features.sl.kind.value as { values: string[] }).values).toEqual(["", "a", "😀"]);
      expect((got.features.bl.kind.value as { values: boolean[] }).values).toEqual([true, false, true]);
    }
  });

  test("a put with processing stores the transformed values, and says what it stored", async () => {
    const featureSet = await newSet([{ name: "age", type: T.INT64, transformers: [standardize(40, 10)] }]);
    const put = await client.putFeatures({ featureSet, entityKey: "u", features: { age: i64(60) }, process: true });
    expect(put.features.age.kind).toEqual({ case: "doubleValue", value: 2 });
    const got = await client.getFeatures({ featureSet, entityKey: "u" });
    expect(got.features.age.kind).toEqual({ case: "doubleValue", value: 2 });
  });

  test("a put without processing takes values of the processed type and refuses the raw type", async () => {
    const featureSet = await newSet([{ name: "age", type: T.INT64, transformers: [standardize(40, 10)] }]);
    await client.putFeatures({ featureSet, entityKey: "u", features: { age: dbl(0.5) } });
    const err = await rejection(client.putFeatures({ featureSet, entityKey: "u", features: { age: i64(50) } }), Code.InvalidArgument);
    expect(violations(err)).toEqual([{ field: "age", description: "expected a double value, got int64 50" }]);
  });

  test("a put replaces what the entity had", async () => {
    const featureSet = await newSet();
    await client.putFeatures({ featureSet, entityKey: "e", features: { d: dbl(1), s: str("x") } });
    await client.putFeatures({ featureSet, entityKey: "e", features: { b: bool(true) } });
    const got = await client.getFeatures({ featureSet, entityKey: "e" });
    expect(Object.keys(got.features)).toEqual(["b"]);
  });

  test("a get can ask for some features only, and unknown names are refused", async () => {
    const featureSet = await newSet();
    await client.putFeatures({ featureSet, entityKey: "e", features: everyType });
    const got = await client.getFeatures({ featureSet, entityKey: "e", featureNames: ["s", "il"] });
    expect(Object.keys(got.features).sort()).toEqual(["il", "s"]);
    await rejection(client.getFeatures({ featureSet, entityKey: "e", featureNames: ["nope"] }), Code.InvalidArgument);
  });

  test("a missing entity answers NOT_FOUND", async () => {
    const featureSet = await newSet();
    const err = await rejection(client.getFeatures({ featureSet, entityKey: "never-put" }), Code.NotFound);
    expect(err.rawMessage).toContain("never-put");
  });

  test("an entity expires after its TTL and reads as not found, while a longer TTL is still served", async () => {
    const featureSet = await newSet();
    const short = await client.putFeatures({ featureSet, entityKey: "short", features: { b: bool(true) }, ttl: { nanos: 150_000_000 } });
    await client.putFeatures({ featureSet, entityKey: "long", features: { b: bool(true) }, ttl: { seconds: 3600n } });
    expect(short.expireTime).toBeDefined();
    await new Promise((r) => setTimeout(r, 400));
    await rejection(client.getFeatures({ featureSet, entityKey: "short" }), Code.NotFound);
    const batch = await client.batchGetFeatures({ featureSet, entityKeys: ["short", "long"] });
    expect(batch.entities.map((e) => e.found)).toEqual([false, true]);
    expect((await client.deleteFeatures({ featureSet, entityKeys: ["short"] })).deletedCount).toBe(0);
  });

  test("the set's default TTL applies when a put gives none", async () => {
    const featureSet = await newSet(allTypes, { seconds: 0n, nanos: 150_000_000 });
    const put = await client.putFeatures({ featureSet, entityKey: "e", features: { b: bool(true) } });
    expect(put.expireTime).toBeDefined();
    await new Promise((r) => setTimeout(r, 400));
    await rejection(client.getFeatures({ featureSet, entityKey: "e" }), Code.NotFound);
  });

  test("a TTL of zero means no expiry, and a set without a default TTL expires after an hour", async () => {
    const featureSet = await newSet();
    const forever = await client.putFeatures({ featureSet, entityKey: "e", features: { b: bool(true) }, ttl: { seconds: 0n } });
    expect(forever.expireTime).toBeUndefined();
    const hour = await client.putFeatures({ featureSet, entityKey: "f", features: { b: bool(true) } });
    const seconds = Number(hour.expireTime!.seconds) - Date.now() / 1000;
    expect(seconds).toBeGreaterThan(3500);
    expect(seconds).toBeLessThanOrEqual(3600);
  });

  test("a negative or absurdly long TTL is refused", async () => {
    const featureSet = await newSet();
    await rejection(client.putFeatures({ featureSet, entityKey: "e", features: {}, ttl: { seconds: -1n } }), Code.InvalidArgument);
    await rejection(client.putFeatures({ featureSet, entityKey: "e", features: {}, ttl: { seconds: 10n ** 12n } }), Code.InvalidArgument);
  });

  test("a batch read of 1,000 keys answers every key in order, found or not", async () => {
    const featureSet = await newSet();
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    const stored = keys.filter((_, i) => i % 3 !== 0);
    for (let i = 0; i < stored.length; i += 100) {
      await Promise.all(stored.slice(i, i + 100).map((k) => client.putFeatures({ featureSet, entityKey: k, features: { s: str(k), i: i64(Number(k.slice(1))) } })));
    }
    const batch = await client.batchGetFeatures({ featureSet, entityKeys: keys, featureNames: ["s"] });
    expect(batch.entities).toHaveLength(1000);
    batch.entities.forEach((e, i) => {
      expect(e.entityKey).toBe(`k${i}`);
      expect(e.found).toBe(i % 3 !== 0);
      if (e.found) expect(e.features).toEqual({ s: expect.objectContaining({ kind: { case: "stringValue", value: `k${i}` } }) });
      else expect(e.features).toEqual({});
    });
  });

  test("non-ASCII entity keys read back by get and by batch, over gRPC and over Connect", async () => {
    const featureSet = await newSet();
    const keys = ["ünï", "日本語", "plain", "emoji 🙂"];
    for (const k of keys.slice(0, 3)) await client.putFeatures({ featureSet, entityKey: k, features: { s: str(k) } });
    for (const c of [client, connectClient]) {
      const batch = await c.batchGetFeatures({ featureSet, entityKeys: keys });
      expect(batch.entities.map((e) => [e.entityKey, e.found, e.features.s?.kind.value])).toEqual([...keys.slice(0, 3).map((k) => [k, true, k]), [keys[3], false, undefined]]);
      expect((await c.getFeatures({ featureSet, entityKey: "日本語", featureNames: ["s"] })).features.s.kind.value).toBe("日本語");
    }
  });

  test("deleting entities removes them and counts those that existed", async () => {
    const featureSet = await newSet();
    await client.putFeatures({ featureSet, entityKey: "a", features: { b: bool(true) } });
    await client.putFeatures({ featureSet, entityKey: "b", features: { b: bool(true) } });
    const res = await client.deleteFeatures({ featureSet, entityKeys: ["a", "b", "c", "a"] });
    expect(res.deletedCount).toBe(2);
    await rejection(client.getFeatures({ featureSet, entityKey: "a" }), Code.NotFound);
  });

  test("values of a deleted set do not reappear when a set of that name is created again", async () => {
    const featureSet = await newSet();
    await client.putFeatures({ featureSet, entityKey: "e", features: { b: bool(true) } });
    await client.deleteFeatureSet({ name: featureSet });
    await client.createFeatureSet({ featureSet: { name: featureSet, features: allTypes } });
    await rejection(client.getFeatures({ featureSet, entityKey: "e" }), Code.NotFound);
  });

  test("sets keep their entities apart", async () => {
    const a = await newSet();
    const b = await newSet();
    await client.putFeatures({ featureSet: a, entityKey: "e", features: { s: str("in a") } });
    await rejection(client.getFeatures({ featureSet: b, entityKey: "e" }), Code.NotFound);
  });

  test("an unknown set answers NOT_FOUND for every store call", async () => {
    await rejection(client.putFeatures({ featureSet: "no-such-set", entityKey: "e", features: {} }), Code.NotFound);
    await rejection(client.getFeatures({ featureSet: "no-such-set", entityKey: "e" }), Code.NotFound);
    await rejection(client.batchGetFeatures({ featureSet: "no-such-set", entityKeys: ["e"] }), Code.NotFound);
    await rejection(client.deleteFeatures({ featureSet: "no-such-set", entityKeys: ["e"] }), Code.NotFound);
  });

  test("an empty or oversize entity key is refused, naming the limit", async () => {
    const featureSet = await newSet();
    await rejection(client.putFeatures({ featureSet, entityKey: "", features: {} }), Code.InvalidArgument);
    const err = await rejection(client.getFeatures({ featureSet, entityKey: "é".repeat(33) }), Code.InvalidArgument);
    expect(err.rawMessage).toContain("66 bytes exceeds the limit max_entity_key_bytes=64");
    const batch = await rejection(client.batchGetFeatures({ featureSet, entityKeys: ["ok", "x".repeat(65)] }), Code.InvalidArgument);
    expect(violations(batch)[0].field).toBe("entity_keys[1]");
  });

  test("a batch above the limit is refused, naming the limit", async () => {
    const featureSet = await newSet();
    const keys = Array.from({ length: 2001 }, (_, i) => `k${i}`);
    const err = await rejection(client.batchGetFeatures({ featureSet, entityKeys: keys }), Code.InvalidArgument);
    expect(err.rawMessage).toContain("max_batch_size=2000");
    await rejection(client.deleteFeatures({ featureSet, entityKeys: keys }), Code.InvalidArgument);
  });

  test("a put with a huge list or string is refused, naming the limits, and stores nothing", async () => {
    const featureSet = await newSet();
    const err = await rejection(
      client.putFeatures({ featureSet, entityKey: "huge", features: { dl: dlist(...new Array(1001).fill(0.5)), s: str("x".repeat(1001)), sl: slist("ok", "y".repeat(1001)) } }),
      Code.InvalidArgument,
    );
    expect(violations(err)).toEqual([
      { field: "dl", description: "list of 1001 elements exceeds the limit max_list_length=1000" },
      { field: "s", description: "string of 1001 characters exceeds the limit max_string_length=1000" },
      { field: "sl", description: "a string element exceeds the limit max_string_length=1000" },
    ]);
    await rejection(client.getFeatures({ featureSet, entityKey: "huge" }), Code.NotFound);
  });

  test("a put with wrong types, NaN and unknown names stores nothing and lists every violation", async () => {
    const featureSet = await newSet();
    const err = await rejection(
      client.putFeatures({ featureSet, entityKey: "bad", features: { d: str("1.0"), dl: dlist(Number.NaN), zz: bool(true) } }),
      Code.InvalidArgument,
    );
    expect(violations(err).map((v) => v.field).sort()).toEqual(["d", "dl", "zz"]);
    await rejection(client.getFeatures({ featureSet, entityKey: "bad" }), Code.NotFound);
  });
});

describe("with the redis store, seen from Redis itself", () => {
  let server: TestServer;
  let client: Client<typeof FeatureService>;
  let raw: Redis;
  const prefix = `raw:${process.pid}:`;

  beforeAll(async () => {
    server = await startTestServer({ ...otherServicesIdle, feature: { store: "redis", redis: { url: redisUrl, keyPrefix: prefix, commandTimeoutMs: 10_000 } } });
    client = createClient(FeatureService, server.grpc);
    raw = new Redis(redisUrl!);
  });

  afterAll(async () => {
    raw?.disconnect();
    await server?.close();
  });

  test("an entity is one key under the set's hash tag, holding StoredFeatures with a millisecond expiry", async () => {
    const featureSet = setName("raw");
    await client.createFeatureSet({ featureSet: { name: featureSet, features: [{ name: "n", type: T.INT64 }] } });
    await client.putFeatures({ featureSet, entityKey: "e:1", features: { n: i64(5) }, ttl: { seconds: 60n } });
    const keys = await raw.keys(`${prefix}{${featureSet}}:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${prefix}\\{${featureSet}\\}:[0-9a-f]+:e:1$`));
    const ttl = await raw.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const stored = fromBinary(StoredFeaturesSchema, (await raw.getBuffer(keys[0]))!);
    expect(stored.features.n.kind).toEqual({ case: "int64Value", value: 5n });
  });

  test("deleting a set removes its values from Redis", async () => {
    const featureSet = setName("drop");
    await client.createFeatureSet({ featureSet: { name: featureSet, features: [{ name: "n", type: T.INT64 }] } });
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.putFeatures({ featureSet, entityKey: `e${i}`, features: { n: i64(i) } })));
    expect(await raw.keys(`${prefix}{${featureSet}}:*`)).toHaveLength(50);
    await client.deleteFeatureSet({ name: featureSet });
    const deadline = Date.now() + 10_000;
    while ((await raw.keys(`${prefix}{${featureSet}}:*`)).length > 0) {
      expect(Date.now(), "values still in Redis 10 s after the set was deleted").toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test("store latency is exported as a metric", async () => {
    const featureSet = setName("metric");
    await client.createFeatureSet({ featureSet: { name: featureSet, features: [{ name: "n", type: T.INT64 }] } });
    await client.putFeatures({ featureSet, entityKey: "e", features: { n: i64(1) } });
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(text).toMatch(/openloop_feature_store_seconds_count\{op="put",backend="redis"\} [1-9]/);
  });
});

describe("the service's transport settings", () => {
  test("batch responses are not gzip-compressed even when the client accepts gzip", async () => {
    const server = await startTestServer({ ...otherServicesIdle, feature: { store: "memory" } });
    try {
      const client = createClient(FeatureService, server.grpc);
      const featureSet = setName("gz");
      await client.createFeatureSet({ featureSet: { name: featureSet, features: [{ name: "v", type: T.DOUBLE_LIST }] } });
      await client.putFeatures({ featureSet, entityKey: "e", features: { v: dlist(...new Array(1000).fill(0.25)) } });
      // A raw gRPC call, to see the envelope's compressed flag that clients hide.
      const request = toBinary(BatchGetFeaturesRequestSchema, create(BatchGetFeaturesRequestSchema, { featureSet, entityKeys: ["e", "e", "e"] }));
      const envelope = Buffer.alloc(5 + request.length);
      envelope.writeUInt32BE(request.length, 1);
      envelope.set(request, 5);
      const session = http2.connect(server.baseUrl);
      try {
        const body = await new Promise<Buffer>((resolve, reject) => {
          const stream = session.request({
            ":method": "POST",
            ":path": "/openloop.feature.v1.FeatureService/BatchGetFeatures",
            "content-type": "application/grpc",
            te: "trailers",
            "grpc-accept-encoding": "gzip",
          });
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => resolve(Buffer.concat(chunks)));
          stream.on("error", reject);
          stream.end(envelope);
        });
        expect(body.length).toBeGreaterThan(3 * 8000);
        expect(body[0], "the response message is flagged compressed").toBe(0);
      } finally {
        session.close();
      }
    } finally {
      await server.close();
    }
  });

  test("the API key is still required when the server has one", async () => {
    const server = await startTestServer({ ...otherServicesIdle, server: { apiKeys: ["feature-test-key-1"] }, feature: { store: "memory" } });
    try {
      await rejection(createClient(FeatureService, server.grpc).listFeatureSets({}), Code.Unauthenticated);
    } finally {
      await server.close();
    }
  });
});
