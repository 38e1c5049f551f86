// The pooled PostgreSQL client every shared store uses. An outage answers UNAVAILABLE fast
// (small connection timeout, a statement timeout) instead of hanging, and the pool reconnects
// by itself once the server is back.
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import type { Logger } from "pino";
import { Counter, type Registry as MetricsRegistry } from "prom-client";
import type { PostgresConfig } from "../shared-storage.js";

export type Queryable = Pick<pg.PoolClient, "query">;

export class PgDatabase {
  readonly pool: pg.Pool;
  private readonly statements: { answered: Counter.Internal; unavailable: Counter.Internal } | undefined;

  constructor(
    readonly config: PostgresConfig,
    private readonly log: Logger,
    metrics?: MetricsRegistry,
  ) {
    if (metrics) {
      // Shows what sharing costs: hot reads served from the caches add nothing here.
      const counter = new Counter({ name: "openloop_postgres_statements_total", help: "Statements and transactions sent to PostgreSQL, by result (answered, or unavailable: not reached)", labelNames: ["result"], registers: [metrics] });
      this.statements = { answered: counter.labels("answered"), unavailable: counter.labels("unavailable") };
    }
    const { pool } = config;
    this.pool = new pg.Pool({
      connectionString: config.url,
      max: pool.max,
      connectionTimeoutMillis: pool.connectionTimeoutMs,
      idleTimeoutMillis: pool.idleTimeoutMs,
      // Client-side guard too: a statement on a connection whose server vanished must not wait forever.
      query_timeout: pool.statementTimeoutMs || undefined,
      statement_timeout: pool.statementTimeoutMs || undefined,
      application_name: "openloop",
      keepAlive: true,
    });
    // An idle connection dropped by the server (restart, failover) must not crash the process.
    this.pool.on("error", (err) => this.log.warn({ err: err.message }, "postgres: an idle connection failed; it is replaced on next use"));
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      const result = await this.pool.query<R>(text, params);
      this.statements?.answered.inc();
      return result;
    } catch (err) {
      throw this.failed(err);
    }
  }

  private failed(err: unknown): unknown {
    const mapped = asUnavailable(err);
    if (mapped instanceof ConnectError && mapped.code === Code.Unavailable) this.statements?.unavailable.inc();
    else this.statements?.answered.inc();
    return mapped;
  }

  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.failed(err);
    }
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      this.statements?.answered.inc();
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => (broken = true));
      throw this.failed(err);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** SQLSTATE of a unique-constraint violation: the loser of a race to insert the same key. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown })?.code === "23505";
}

/**
 * Connection failures become UNAVAILABLE (retryable); errors the database reports about a
 * statement (constraint violations and the like) and our own errors pass through unchanged.
 */
export function asUnavailable(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    // SQLSTATE classes 08 (connection), 57 (statement timeout, shutdown), 53300 (too many connections).
    if (!(code.startsWith("08") || code.startsWith("57") || code === "53300")) return err;
  } else if (!(err instanceof Error) || err.constructor !== Error) {
    return err; // our own error classes (RegistryError...) are answers, not outages
  }
  // Plain errors from pg and the socket: refused, reset, timed out, terminated.
  return new ConnectError(`the metadata database (PostgreSQL) is unavailable: ${String((err as Error).message).slice(0, 200)}; retry shortly`, Code.Unavailable);
}
