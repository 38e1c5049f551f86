// The PostgreSQL side of shared storage, opened once by the composition root and handed to
// every service's store: the pool, the change listener, and the schema migrated at start.
import type { Logger } from "pino";
import type { Registry as MetricsRegistry } from "prom-client";
import type { PostgresConfig } from "../shared-storage.js";
import { ChangeListener } from "./changes.js";
import { PgDatabase } from "./database.js";
import { migrate } from "./migrations.js";

export interface SharedMetadata {
  readonly db: PgDatabase;
  readonly changes: ChangeListener;
  /** Safety net of every read cache kept fresh by `changes`, in milliseconds. */
  readonly cacheTtlMs: number;
  close(): Promise<void>;
}

export async function openSharedMetadata(config: PostgresConfig, log: Logger, metrics?: MetricsRegistry): Promise<SharedMetadata> {
  const db = new PgDatabase(config, log, metrics);
  const changes = new ChangeListener(config, log);
  try {
    const applied = await migrate(db, log);
    log.info({ applied }, "postgres: schema up to date");
    await changes.start();
  } catch (err) {
    await changes.close();
    await db.close();
    throw err;
  }
  return {
    db,
    changes,
    cacheTtlMs: config.cacheTtlMs,
    async close() {
      await changes.close();
      await db.close();
    },
  };
}
