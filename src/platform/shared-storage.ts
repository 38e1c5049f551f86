// Where durable state lives: `embedded` (local files and memory, no setup) or `shared`
// (PostgreSQL for metadata, S3-compatible object storage for artifacts, Redis for hot state),
// so any number of replicas behind a load balancer serve one truth.
import { z } from "zod";

export const storageModeSchema = z.enum(["embedded", "shared"]).default("embedded");
export type StorageMode = z.infer<typeof storageModeSchema>;

export const postgresConfigSchema = z
  .object({
    /** Connection URL, e.g. postgres://openloop:secret@db:5432/openloop. */
    url: z.string().url(),
    pool: z
      .object({
        /** Connections per replica. */
        max: z.number().int().min(1).max(1000).default(10),
        /** How long a call waits for a connection before failing UNAVAILABLE, in milliseconds: small, so an outage answers fast. */
        connectionTimeoutMs: z.number().int().min(1).default(2_000),
        /** An idle connection is closed after this long, in milliseconds. */
        idleTimeoutMs: z.number().int().min(0).default(30_000),
        /** Longest a single statement may run, in milliseconds (0: no limit). */
        statementTimeoutMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    /** Safety net of the caches that LISTEN/NOTIFY keeps fresh: an entry is re-read after this long, in milliseconds. */
    cacheTtlMs: z.number().int().min(0).default(5_000),
  })
  .strict();
export type PostgresConfig = z.infer<typeof postgresConfigSchema>;

export const objectStoreConfigSchema = z
  .object({
    /** S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com or http://seaweedfs:8333. */
    endpoint: z.string().url(),
    bucket: z.string().min(3).max(63),
    region: z.string().min(1).default("us-east-1"),
    credentials: z
      .object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) })
      .strict()
      .optional(),
    /** Key prefix under which openloop keeps its objects (e.g. "openloop/"); empty: the bucket root. */
    prefix: z.string().default(""),
    /** Path-style addressing (bucket in the path), which most self-hosted S3 servers need. */
    forcePathStyle: z.boolean().default(true),
    /** Removal of uploads that never completed (a replica died mid-upload); one replica sweeps at a time. */
    orphanSweep: z
      .object({
        /** How often each replica tries to sweep, in milliseconds (0: never, e.g. when a bucket lifecycle rule does it). */
        intervalMs: z.number().int().min(0).default(60 * 60 * 1000),
        /** Temporary objects older than this are orphans, in milliseconds: longer than any upload takes. */
        olderThanMs: z.number().int().min(1).default(24 * 60 * 60 * 1000),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type ObjectStoreConfig = z.infer<typeof objectStoreConfigSchema>;

/** Reads OPENLOOP_STORAGE, OPENLOOP_POSTGRES_URL and OPENLOOP_S3_* over the file's values. */
export function applyStorageEnv(out: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (env.OPENLOOP_STORAGE) out.storage = env.OPENLOOP_STORAGE;
  if (env.OPENLOOP_POSTGRES_URL) out.postgres = { ...asObject(out.postgres), url: env.OPENLOOP_POSTGRES_URL };
  const s3: Record<string, unknown> = {};
  if (env.OPENLOOP_S3_ENDPOINT) s3.endpoint = env.OPENLOOP_S3_ENDPOINT;
  if (env.OPENLOOP_S3_BUCKET) s3.bucket = env.OPENLOOP_S3_BUCKET;
  if (env.OPENLOOP_S3_REGION) s3.region = env.OPENLOOP_S3_REGION;
  if (env.OPENLOOP_S3_PREFIX !== undefined) s3.prefix = env.OPENLOOP_S3_PREFIX;
  const credentials: Record<string, unknown> = {};
  if (env.OPENLOOP_S3_ACCESS_KEY_ID) credentials.accessKeyId = env.OPENLOOP_S3_ACCESS_KEY_ID;
  if (env.OPENLOOP_S3_SECRET_ACCESS_KEY) credentials.secretAccessKey = env.OPENLOOP_S3_SECRET_ACCESS_KEY;
  if (Object.keys(credentials).length) {
    const store = asObject(out.objectStore);
    s3.credentials = { ...asObject(store.credentials), ...credentials };
  }
  if (Object.keys(s3).length) out.objectStore = { ...asObject(out.objectStore), ...s3 };
}

/** `shared` needs all three backends; a missing one is named at start instead of failing on the first call. */
export function checkSharedStorage(
  config: { storage: StorageMode; postgres?: unknown; objectStore?: unknown; redis?: unknown },
  report: (path: string, message: string) => void,
): void {
  if (config.storage !== "shared") return;
  if (!config.postgres) report("postgres.url", "storage 'shared' needs PostgreSQL: set postgres.url (or OPENLOOP_POSTGRES_URL)");
  if (!config.objectStore) report("objectStore", "storage 'shared' needs object storage: set objectStore.endpoint and objectStore.bucket (or OPENLOOP_S3_ENDPOINT, OPENLOOP_S3_BUCKET)");
  if (!config.redis) report("redis.url", "storage 'shared' needs Redis: set redis.url (or OPENLOOP_REDIS_URL)");
}

function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
}
