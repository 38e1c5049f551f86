// Uploads that never completed are swept from the shared artifact store, by one replica at a time.
import { mkdtemp, readdir, rm, stat, utimes } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { PgDatabase } from "../../src/platform/postgres/database.js";
import { FsArtifactStore } from "../../src/registry/fs-artifact-store.js";
import { OrphanSweeper } from "../../src/registry/orphan-sweeper.js";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";

let postgres: PostgresProcess;
let db: PgDatabase;
let dir: string;
beforeAll(async () => {
  postgres = await startPostgres();
  db = new PgDatabase(parseConfig({ postgres: { url: postgres.url } }).postgres!, pino({ level: "silent" }));
  dir = await mkdtemp(path.join(os.tmpdir(), "openloop-sweep-"));
});
afterAll(async () => {
  await db?.close();
  await postgres?.teardown();
  await rm(dir, { recursive: true, force: true });
});

const HOUR = 60 * 60 * 1000;

describe("the orphaned upload sweep", () => {
  it("removes old uploads that never completed, keeps young ones, and skips while another replica sweeps", async () => {
    const store = await FsArtifactStore.open(dir);
    const tmp = path.join(dir, "tmp");
    const dead = await store.beginWrite({ model: "m", version: "u-dead", artifact: "a.bin" });
    // More than one aligned write buffer (direct-io.ts keeps up to 1 MiB before it writes).
    await dead.write(Buffer.alloc(1024 * 1024 + 14, 7));
    const [deadFile] = await readdir(tmp);
    // Its bytes reach the file asynchronously: wait for them before backdating it.
    await expect.poll(async () => (await stat(path.join(tmp, deadFile!))).size).toBeGreaterThanOrEqual(1024 * 1024);
    // The dead replica's upload is two days old (its writer is never completed nor aborted).
    const old = new Date(Date.now() - 48 * HOUR);
    await utimes(path.join(tmp, deadFile!), old, old);
    const live = await store.beginWrite({ model: "m", version: "u-live", artifact: "a.bin" });
    await live.write(Buffer.from("still uploading"));

    const sweeper = new OrphanSweeper(db, store, { intervalMs: 0, olderThanMs: 24 * HOUR }, pino({ level: "silent" }));
    const other = new pg.Client({ connectionString: postgres.url });
    await other.connect();
    try {
      // Another replica holds the sweep lock: this one leaves everything alone.
      await other.query("SELECT pg_advisory_lock(4210701515)");
      expect(await sweeper.sweepOnce()).toBeUndefined();
      expect(await readdir(tmp)).toHaveLength(2);
      await other.query("SELECT pg_advisory_unlock(4210701515)");
    } finally {
      await other.end();
    }
    expect(await sweeper.sweepOnce()).toBe(1);
    expect(await readdir(tmp)).toHaveLength(1);
    expect(await readdir(tmp)).not.toContain(deadFile);
    // The young upload completes normally.
    expect((await live.complete()).sizeBytes).toBe(Buffer.byteLength("still uploading"));
  });
});
