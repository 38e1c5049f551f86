// `openloop migrate`: applies the shared store's migrations and exits, for teams that migrate
// before they deploy (servers also migrate at start, under the same advisory lock).
import type { Logger } from "pino";
import { ConfigError, type Config } from "../../config.js";
import { PgDatabase } from "./database.js";
import { migrate, schemaVersion } from "./migrations.js";

export async function runMigrateCommand(config: Config, log: Logger): Promise<{ applied: number[]; version: number }> {
  if (!config.postgres) throw new ConfigError("openloop migrate needs PostgreSQL: set postgres.url (or OPENLOOP_POSTGRES_URL)");
  const db = new PgDatabase({ ...config.postgres, pool: { ...config.postgres.pool, max: 1 } }, log);
  try {
    const applied = await migrate(db, log);
    return { applied, version: await schemaVersion(db) };
  } finally {
    await db.close();
  }
}
