// The versioned schema of the shared store. Migrations run at start (and by `openloop migrate`)
// under a PostgreSQL advisory lock: of many replicas starting at once, one migrates and the
// others wait, then find nothing left to do. A migration is never edited once released; a
// change is a new migration appended to the list.
import pg from "pg";
import type { Logger } from "pino";
import type { PgDatabase } from "./database.js";
import { asUnavailable } from "./errors.js";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

/** Arbitrary constant naming openloop's migration lock (pg_advisory_lock takes a bigint). */
const MIGRATION_LOCK = 4_210_701_514;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "registry",
    sql: `
      CREATE TABLE registry_models (
        name text PRIMARY KEY,
        -- Highest integer version ever assigned: auto-assignment never reuses a deleted number.
        highest_integer bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE registry_versions (
        model text NOT NULL REFERENCES registry_models (name),
        version text NOT NULL,
        version_lower text NOT NULL,
        type text NOT NULL,
        created_at_ms bigint NOT NULL,
        -- Where the artifacts live in the object store (one key per upload, so racing uploads never share bytes).
        blob_key text NOT NULL,
        record jsonb NOT NULL,
        PRIMARY KEY (model, version),
        UNIQUE (model, version_lower)
      );
      CREATE TABLE registry_aliases (
        model text NOT NULL,
        alias text NOT NULL,
        version text NOT NULL,
        PRIMARY KEY (model, alias),
        FOREIGN KEY (model, version) REFERENCES registry_versions (model, version)
      );
    `,
  },
  {
    version: 2,
    name: "pipelines",
    sql: `
      CREATE TABLE pipeline_revisions (
        name text NOT NULL,
        revision integer NOT NULL,
        description text NOT NULL,
        spec jsonb NOT NULL,
        create_time timestamptz NOT NULL,
        PRIMARY KEY (name, revision)
      );
    `,
  },
  {
    version: 3,
    name: "online models and feature sets",
    sql: `
      CREATE TABLE online_models (
        name text PRIMARY KEY,
        definition jsonb NOT NULL
      );
      CREATE TABLE feature_sets (
        name text PRIMARY KEY,
        generation text NOT NULL,
        create_time timestamptz NOT NULL,
        -- The FeatureSet message in its proto JSON form.
        definition jsonb NOT NULL
      );
    `,
  },
];

/** Applies the migrations not yet applied; returns the versions this call applied (none when another process did). */
export async function migrate(db: PgDatabase, log?: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  // A connection of its own, without the pool's statement timeouts: a migration, and the wait of the
  // replicas queued behind it on the lock, may take longer than any call should.
  const client = new pg.Client({ connectionString: db.config.url, connectionTimeoutMillis: db.config.pool.connectionTimeoutMs, application_name: "openloop-migrate" });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw asUnavailable(err);
  }
  const applied: number[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw new MigrationError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        applied.push(m.version);
        log?.info({ version: m.version, name: m.name }, "postgres: migration applied");
      }
      const newest = Math.max(0, ...done);
      const known = Math.max(0, ...migrations.map((m) => m.version));
      if (newest > known) throw new MigrationError(`the database schema is at version ${newest}, newer than this openloop knows (${known}); upgrade openloop`);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    }
  } catch (err) {
    throw asUnavailable(err);
  } finally {
    // Closing the session also releases the lock, should the unlock above have failed.
    await client.end().catch(() => undefined);
  }
  return applied;
}

/** The newest applied migration (0 when none). */
export async function schemaVersion(db: PgDatabase): Promise<number> {
  const { rows } = await db.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  return rows[0]?.v ?? 0;
}
