// Shared-storage test setup: a private PostgreSQL, an artifact store (a real S3 server, SeaweedFS,
// or a shared directory where a test is about something else) and the run's Redis, and the
// config that points a server at them.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startPostgres, type PostgresProcess } from "../support/postgres.js";
import { startSeaweedFs, type SeaweedFs } from "../support/seaweedfs.js";

export interface SharedBackend {
  readonly pg: PostgresProcess;
  /** The S3 server, when started with artifacts: "s3". */
  readonly s3?: SeaweedFs;
  /** A fresh database and artifact bucket; every server given this config shares them. */
  config(name: string, cacheTtlMs?: number): Promise<Record<string, unknown>>;
  teardown(): Promise<void>;
}

export async function startSharedBackend(options: { artifacts?: "s3" | "directory" } = {}): Promise<SharedBackend> {
  const redisUrl = process.env.OPENLOOP_TEST_REDIS_URL;
  if (!redisUrl) throw new Error("OPENLOOP_TEST_REDIS_URL is not set (test/support/global-setup.ts starts a Redis)");
  const [pg, s3] = await Promise.all([startPostgres(), options.artifacts === "s3" ? startSeaweedFs() : undefined]);
  const artifacts = await mkdtemp(path.join(os.tmpdir(), "openloop-artifacts-"));
  return {
    pg,
    s3,
    async config(name, cacheTtlMs = 5_000) {
      const url = await pg.createDatabase(name);
      const bucket = name.replace(/_/g, "-");
      const objectStore = s3
        ? { endpoint: s3.endpoint, bucket: await s3.createBucket(bucket), region: s3.region, credentials: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: s3.credentials.secretAccessKey }, prefix: "openloop/" }
        : { endpoint: pathToFileURL(artifacts).href, bucket, prefix: "" };
      return {
        storage: "shared",
        postgres: { url, pool: { connectionTimeoutMs: 1_000 }, cacheTtlMs },
        objectStore,
        redis: { url: redisUrl },
      };
    },
    async teardown() {
      await Promise.all([pg.teardown(), s3?.teardown()]);
      await rm(artifacts, { recursive: true, force: true });
    },
  };
}
