// Removes artifact uploads that never completed (a replica died mid-upload) from the shared
// artifact store. Every replica runs the timer; a PostgreSQL advisory lock lets one sweep at a
// time, so the store is not listed by every replica at once.
import type { Logger } from "pino";
import type { ArtifactStore } from "./artifact-store.js";
import type { PgDatabase } from "../platform/postgres/database.js";
import { asUnavailable } from "../platform/postgres/errors.js";

/** Arbitrary constant naming the sweep lock (pg_try_advisory_lock takes a bigint). */
const SWEEP_LOCK = 4_210_701_515;

export interface SweepOptions {
  /** How often each replica tries to sweep, in milliseconds. */
  readonly intervalMs: number;
  /** Temporary objects older than this are orphans, in milliseconds (longer than any upload takes). */
  readonly olderThanMs: number;
}

export class OrphanSweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: PgDatabase,
    private readonly artifacts: ArtifactStore,
    private readonly options: SweepOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweepOnce().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "registry: orphaned upload sweep failed; next try later"));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Sweeps if no other replica is sweeping; returns how many orphans went, or undefined when another replica holds the lock. */
  async sweepOnce(): Promise<number | undefined> {
    let client;
    try {
      client = await this.db.pool.connect();
    } catch (err) {
      throw asUnavailable(err);
    }
    let broken = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [SWEEP_LOCK]);
      if (!rows[0]?.locked) return undefined;
      try {
        const removed = await this.artifacts.sweepOrphans(this.options.olderThanMs);
        if (removed > 0) this.log.info({ removed }, "registry: removed orphaned uploads from the artifact store");
        return removed;
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [SWEEP_LOCK]).catch(() => (broken = true));
      }
    } catch (err) {
      broken = true;
      throw asUnavailable(err);
    } finally {
      // A broken connection is dropped, which releases a session lock it may still hold.
      client.release(broken);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
