// The pooled PostgreSQL client every shared store uses. An outage answers UNAVAILABLE fast
// (small connection timeout, a statement timeout) instead of hanging, and the pool reconnects
// by itself once the server is back.
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import type { Logger } from "pino";
import { Counter, type Registry as MetricsRegistry } from "prom-client";
import type { PostgresConfig } from "../shared-storage.js";
import { asUnavailable } from "./errors.js";

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
