// The DefinitionStore contract (online-model definitions) on every backend: files, Redis, PostgreSQL.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { FsDefinitionStore, RedisDefinitionStore, type DefinitionStore } from "../../src/feedback/definitions.js";
import { makeDefinition } from "../../src/feedback/engine.js";
import { PgDefinitionStore } from "../../src/feedback/pg-definitions.js";
import { PgDatabase } from "../../src/platform/postgres/database.js";
import { migrate } from "../../src/platform/postgres/migrations.js";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";

let pg: PostgresProcess;
let db: PgDatabase;
let redis: Redis;
let dir: string;
beforeAll(async () => {
  pg = await startPostgres();
  db = new PgDatabase(parseConfig({ postgres: { url: pg.url } }).postgres!, pino({ level: "silent" }));
  await migrate(db);
  redis = new Redis(process.env.OPENLOOP_TEST_REDIS_URL!);
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-defs-"));
});
afterAll(async () => {
  await db?.close();
  await pg?.teardown();
  redis?.disconnect();
  await rm(dir, { recursive: true, force: true });
});

const backends: [string, () => DefinitionStore][] = [
  ["files", () => new FsDefinitionStore(path.join(dir, randomUUID()))],
  ["redis", () => new RedisDefinitionStore(redis, `openloop:test-defs-${randomUUID()}:`)],
  ["postgres", () => new PgDefinitionStore(db)],
];

const definition = (name: string) =>
  makeDefinition({ name, task: "regression", optimizer: "sgd", learningRate: 0.01, l2: 0, buckets: 1024, epochs: 1, scaling: "none", errorThreshold: 0.1, updateThreshold: 100, warmUp: false, trainingSamples: "significant-errors", maxVersions: 0, minTrainIntervalMs: 0, featureSet: "", description: "d" } as never);

describe.each(backends)("online-model definitions in %s", (_, open) => {
  it("creates a definition once, reads it back and lists it", async () => {
    const store = open();
    const name = `m-${randomUUID().slice(0, 8)}`;
    expect(await store.create(definition(name))).toBe(true);
    expect(await store.create({ ...definition(name), description: "second" })).toBe(false);
    expect(await store.get(name)).toMatchObject({ name, description: "d", task: "regression" });
    expect(await store.get("absent")).toBeUndefined();
    expect((await store.list()).map((d) => d.name)).toContain(name);
  });

  it("lets exactly one of concurrent creates of one name win", async () => {
    const shared = open();
    const name = `race-${randomUUID().slice(0, 8)}`;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => shared.create({ ...definition(name), description: String(i) })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await shared.get(name))!.description).toBe(String(results.indexOf(true)));
  });
});
