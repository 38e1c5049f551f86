// Shared-storage test setup: a private PostgreSQL, a shared artifact directory and the run's
// Redis, and the config that points a server at them.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";

export interface SharedBackend {
  readonly pg: PostgresProcess;
  /** A fresh database and artifact bucket; every server given this config shares them. */
  config(name: string, cacheTtlMs?: number): Promise<Record<string, unknown>>;
  teardown(): Promise<void>;
}

export async function startSharedBackend(): Promise<SharedBackend> {
  const redisUrl = process.env.OPENLOOP_TEST_REDIS_URL;
  if (!redisUrl) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (test/support/global-setup.ts starts a Redis)");
  const pg = await startPostgres();
  const artifacts = await mkdtemp(path.join(os.tmpdir(), "openloop-artifacts-"));
  return {
    pg,
    async config(name, cacheTtlMs = 5_000) {
      const url = await pg.createDatabase(name);
      return {
        storage: "shared",
        postgres: { url, pool: { connectionTimeoutMs: 1_000 }, cacheTtlMs },
        objectStore: { endpoint: pathToFileURL(artifacts).href, bucket: name.replace(/_/g, "-"), prefix: "" },
        redis: { url: redisUrl },
      };
    },
    async teardown() {
      await pg.teardown();
      await rm(artifacts, { recursive: true, force: true });
    },
  };
}
