// The schema of the shared store: migrations under an advisory lock, so replicas starting at once migrate once.
import { copyFile, mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { PgDatabase } from "../../src/platform/postgres/database.js";
import { MIGRATIONS, migrate, schemaVersion } from "../../src/platform/postgres/migrations.js";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";
import { ROOT, run } from "../support/tools.js";

let pg: PostgresProcess;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.teardown();
});

function database(url: string): PgDatabase {
  const config = parseConfig({ postgres: { url } }).postgres!;
  return new PgDatabase(config, pino({ level: "silent" }));
}

describe("migrations", () => {
  it("ten replicas migrating at once apply each migration exactly once", async () => {
    const url = await pg.createDatabase("concurrent");
    const dbs = Array.from({ length: 10 }, () => database(url));
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db)));
      const newest = Math.max(...MIGRATIONS.map((m) => m.version));
      expect(applied.flat().sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      expect(await schemaVersion(dbs[0]!)).toBe(newest);
      const { rows } = await dbs[0]!.query<{ n: string }>("SELECT count(*) AS n FROM schema_migrations");
      expect(Number(rows[0]!.n)).toBe(MIGRATIONS.length);
      // Starting again later finds nothing to do.
      expect(await migrate(dbs[1]!)).toEqual([]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it("lets replicas wait behind a migration that takes longer than the statement timeout", async () => {
    const url = await pg.createDatabase("slow");
    const slow = [{ version: 1, name: "slow", sql: "SELECT pg_sleep(1.5); CREATE TABLE slow_probe (id integer)" }];
    const dbs = Array.from({ length: 3 }, () => new PgDatabase(parseConfig({ postgres: { url, pool: { statementTimeoutMs: 500 } } }).postgres!, pino({ level: "silent" })));
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db, undefined, slow)));
      expect(applied.flat()).toEqual([1]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it("refuses a schema newer than this openloop knows", async () => {
    const url = await pg.createDatabase("newer");
    const db = database(url);
    try {
      await migrate(db);
      await db.query("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from-the-future')");
      await expect(migrate(db)).rejects.toThrow(/newer than this openloop knows/);
    } finally {
      await db.close();
    }
  });
});

describe("openloop migrate", () => {
  function migrateCommand(env: Record<string, string>) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPENLOOP_")));
    return run(process.execPath, ["--import", "tsx", "src/main.ts", "migrate"], { cwd: ROOT, env: { ...clean, OPENLOOP_LOG_LEVEL: "warn", ...env }, timeoutMs: 60_000 });
  }

  it("applies the migrations and exits, then finds nothing to do", async () => {
    const url = await pg.createDatabase("explicit");
    const first = await migrateCommand({ OPENLOOP_POSTGRES_URL: url });
    expect(first.code, first.stderr).toBe(0);
    const newest = Math.max(...MIGRATIONS.map((m) => m.version));
    expect(first.stdout).toContain(`schema at version ${newest} (applied ${MIGRATIONS.map((m) => m.version).join(", ")})`);
    const again = await migrateCommand({ OPENLOOP_POSTGRES_URL: url });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("nothing to apply");
  });

  it("runs from the compiled dist/ as production runs it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-migrate-dist-"));
    try {
      const build = await run("bash", ["scripts/build.sh", path.join(dir, "dist")], { cwd: ROOT, timeoutMs: 120_000 });
      expect(build.code, build.stderr).toBe(0);
      await copyFile(path.join(ROOT, "package.json"), path.join(dir, "package.json"));
      await symlink(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
      const url = await pg.createDatabase("from_dist");
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPENLOOP_")));
      const res = await run(process.execPath, ["dist/src/main.js", "migrate"], { cwd: dir, env: { ...clean, OPENLOOP_POSTGRES_URL: url, OPENLOOP_LOG_LEVEL: "warn" }, timeoutMs: 60_000 });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(`schema at version ${Math.max(...MIGRATIONS.map((m) => m.version))}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("exits 2 naming the setting when no PostgreSQL is configured", async () => {
    const res = await migrateCommand({});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("postgres.url");
  });

  it("answers fast with an error when PostgreSQL is unreachable", async () => {
    const res = await migrateCommand({ OPENLOOP_POSTGRES_URL: "postgres://nobody@127.0.0.1:1/none" });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("unavailable");
  });
});
