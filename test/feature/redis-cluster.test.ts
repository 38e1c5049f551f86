// The Redis store on a real three-node Redis Cluster: every key of a set lands in one
// slot (the {set} hash tag), so a batch read is one MGET, and reads and writes route by slot.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { TestServer } from "../support/server.js";
import { startTestServer } from "../support/server.js";
import { i64, otherServicesIdle, T } from "./helpers.js";
import type { RedisProcess } from "../support/redis.js";
import { freePort, startRedis } from "../support/redis.js";

const run = promisify(execFile);
let dir: string;
const nodes: RedisProcess[] = [];
let server: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-cluster-"));
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    nodes.push(await startRedis(["--cluster-enabled", "yes", "--cluster-config-file", path.join(dir, `nodes-${port}.conf`), "--dir", dir], port));
  }
  await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"]);
  // Wait until every node agrees the cluster is up.
  const deadline = Date.now() + 20_000;
  for (const n of nodes) {
    for (;;) {
      const { stdout } = await run("redis-cli", ["-p", String(n.port), "cluster", "info"]);
      if (stdout.includes("cluster_state:ok")) break;
      if (Date.now() > deadline) throw new Error(`cluster did not come up: ${stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  server = await startTestServer({ ...otherServicesIdle, feature: { store: "redis", redis: { clusterNodes: [`127.0.0.1:${nodes[0].port}`], commandTimeoutMs: 10_000 } } });
});

afterAll(async () => {
  await server?.close();
  for (const n of nodes) await n.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a set's entities live in one cluster slot and a batch read returns them all", async () => {
  const client = createClient(FeatureService, server.grpc);
  await client.createFeatureSet({ featureSet: { name: "clustered", features: [{ name: "n", type: T.INT64 }] } });
  const keys = Array.from({ length: 300 }, (_, i) => `entity-${i}`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((entityKey, j) => client.putFeatures({ featureSet: "clustered", entityKey, features: { n: i64(i + j) } })));
  }

  const batch = await client.batchGetFeatures({ featureSet: "clustered", entityKeys: [...keys, "missing"] });
  expect(batch.entities.map((e) => e.found)).toEqual([...keys.map(() => true), false]);
  expect(batch.entities[123].features.n.kind).toEqual({ case: "int64Value", value: 123n });

  // Every key sits on one node: the one owning the slot of the {clustered} hash tag.
  const counts: number[] = [];
  for (const n of nodes) {
    const r = new Redis(n.port, "127.0.0.1");
    counts.push(await r.dbsize());
    r.disconnect();
  }
  expect(counts.filter((c) => c > 0)).toEqual([300]);

  expect((await client.deleteFeatures({ featureSet: "clustered", entityKeys: keys.slice(0, 10) })).deletedCount).toBe(10);
  expect((await client.getFeatures({ featureSet: "clustered", entityKey: "entity-20" })).features.n.kind).toEqual({ case: "int64Value", value: 20n });
});
