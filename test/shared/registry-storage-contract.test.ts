// The RegistryStorage contract at the storage level, on the embedded backend (files) and the
// shared one (PostgreSQL + artifact store), with two PgRegistryStorage instances standing for two
// replicas on one database.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { ChangeListener } from "../../src/platform/postgres/changes.js";
import { PgDatabase } from "../../src/platform/postgres/database.js";
import { migrate } from "../../src/platform/postgres/migrations.js";
import { RegistryError } from "../../src/registry/errors.js";
import { FsArtifactStore } from "../../src/registry/fs-artifact-store.js";
import { FsRegistryStorage } from "../../src/registry/fs-storage.js";
import { PgRegistryStorage } from "../../src/registry/pg-storage.js";
import type { RegistryStorage, VersionDraft } from "../../src/registry/storage.js";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";

const log = pino({ level: "silent" });
let postgres: PostgresProcess;
let db: PgDatabase;
let dir: string;
const closers: (() => Promise<void>)[] = [];
beforeAll(async () => {
  postgres = await startPostgres();
  const config = parseConfig({ postgres: { url: postgres.url } }).postgres!;
  db = new PgDatabase(config, log);
  await migrate(db);
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-storage-contract-"));
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await db?.close();
  await postgres?.teardown();
  await rm(dir, { recursive: true, force: true });
});

const limits = { maxArtifactBytes: 1024 * 1024, maxConcurrentUploads: 8, verifyOnRead: true };

/** Two handles on one store: two replicas (shared) or the same process twice (embedded: one handle). */
async function openPair(kind: "embedded" | "shared", name: string): Promise<{ a: RegistryStorage; b: RegistryStorage; artifactsDir: string }> {
  const artifactsDir = path.join(dir, name);
  if (kind === "embedded") {
    const s = await FsRegistryStorage.open({ root: artifactsDir, ...limits });
    closers.push(() => s.close());
    return { a: s, b: s, artifactsDir: path.join(artifactsDir, "tmp") };
  }
  const open = async () => {
    const changes = new ChangeListener(parseConfig({ postgres: { url: postgres.url } }).postgres!, log);
    await changes.start();
    const store = await FsArtifactStore.open(artifactsDir);
    const s = new PgRegistryStorage(db, changes, store, { ...limits, cacheTtlMs: 60_000 });
    closers.push(async () => {
      await s.close();
      await changes.close();
    });
    return s;
  };
  return { a: await open(), b: await open(), artifactsDir: path.join(artifactsDir, "tmp") };
}

function draft(model: string, version?: string): VersionDraft {
  return { model, version, type: "onnx", description: "", metadata: {}, tags: [], lineage: { parentName: "", parentVersion: "", producer: "", samplesUsed: 0, details: {} } };
}

async function readAll(s: RegistryStorage, model: string, version: string, artifact: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s.readArtifact(model, version, artifact, { chunkBytes: 4 })) {
    parts.push(Buffer.from(c.data));
    c.release();
  }
  return Buffer.concat(parts).toString();
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RegistryError) return err.kind;
    throw err;
  }
  throw new Error("expected a RegistryError");
}

describe.each(["embedded", "shared"] as const)("RegistryStorage on %s storage", (kind) => {
  it("shows nothing of an upload until it is committed", async () => {
    const { a, b } = await openPair(kind, `${kind}-visible`);
    const u = await a.beginUpload(draft("visible", "1"));
    await u.beginArtifact("a.bin");
    await u.write(Buffer.from("hello"));
    await u.finishArtifact();
    expect(await b.getVersion("visible", "1")).toBeUndefined();
    expect(await b.getModel("visible")).toBeUndefined();
    await u.commit();
    expect(await readAll(b, "visible", "1", "a.bin")).toBe("hello");
    expect((await b.getModel("visible"))?.latestVersion).toBe("1");
  });

  it("publishes one of two uploads of one version that both passed the early check, with the winner's bytes, and keeps none of the loser's", async () => {
    const { a, b, artifactsDir } = await openPair(kind, `${kind}-race`);
    const first = await a.beginUpload(draft("race", "3"));
    const second = await b.beginUpload(draft("race", "3"));
    for (const [u, text] of [[first, "from first"], [second, "from second"]] as const) {
      await u.beginArtifact("x.bin");
      await u.write(Buffer.from(text));
      await u.finishArtifact();
    }
    const results = await Promise.allSettled([first.commit(), second.commit()]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect((lost.reason as RegistryError).kind).toBe("already_exists");
    const winner = results[0]!.status === "fulfilled" ? "from first" : "from second";
    expect(await readAll(a, "race", "3", "x.bin")).toBe(winner);
    expect(await readAll(b, "race", "3", "x.bin")).toBe(winner);
    expect(await readdir(artifactsDir)).toEqual([]);
  });

  it("assigns distinct consecutive integers to concurrent uploads without a version", async () => {
    const { a, b } = await openPair(kind, `${kind}-auto`);
    const uploads = await Promise.all([a, b, a, b].map((s) => s.beginUpload(draft("auto"))));
    const records = await Promise.all(uploads.map((u) => u.commit()));
    expect(records.map((r) => Number(r.version)).sort()).toEqual([1, 2, 3, 4]);
  });

  it("fails with data_loss when the digest does not match, and an aborted upload leaves nothing", async () => {
    const { a, artifactsDir } = await openPair(kind, `${kind}-abort`);
    const u = await a.beginUpload(draft("aborted", "1"));
    await u.beginArtifact("a.bin");
    await u.write(Buffer.from("abc"));
    expect(await kindOf(u.finishArtifact("0".repeat(64)))).toBe("data_loss");
    await u.abort();
    const v = await a.beginUpload(draft("aborted", "2"));
    await v.beginArtifact("a.bin");
    await v.write(Buffer.from("abc"));
    await v.finishArtifact();
    await v.abort();
    expect(await a.getModel("aborted")).toBeUndefined();
    expect(await readdir(artifactsDir)).toEqual([]);
  });

  it("moves an alias and refuses an alias to a missing version", async () => {
    const { a, b } = await openPair(kind, `${kind}-alias`);
    for (const v of ["1", "2"]) {
      const u = await a.beginUpload(draft("aliased", v));
      await u.commit();
    }
    expect(await a.setAlias("aliased", "prod", "1")).toBeUndefined();
    expect(await b.setAlias("aliased", "prod", "2")).toBe("1");
    await expect.poll(async () => (await a.getModel("aliased"))?.aliases.prod, { timeout: 1_000, interval: 10 }).toBe("2");
    expect(await kindOf(a.setAlias("aliased", "prod", "9"))).toBe("not_found");
    expect(await kindOf(b.deleteVersion("aliased", "2", false))).toBe("precondition");
    expect(await b.deleteVersion("aliased", "2", true)).toEqual({ removedAliases: ["prod"] });
  });
});
