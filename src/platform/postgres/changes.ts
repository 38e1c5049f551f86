// Change notifications between replicas: a write publishes `NOTIFY openloop_changes,
// '<topic>:<origin>:<key>'` in its own transaction, and every other replica's listener drops what it
// cached under that key (the writer updated its own caches already). The listener reconnects by
// itself; after a reconnect every cache is dropped, since notifications sent while it was away are lost.
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";
import type { PostgresConfig } from "../shared-storage.js";
import type { Queryable } from "./database.js";

const CHANNEL = "openloop_changes";

export type ChangeHandler = (key: string | undefined) => void;

export class ChangeListener {
  private readonly handlers = new Map<string, Set<ChangeHandler>>();
  private readonly liveWatchers = new Set<(live: boolean) => void>();
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private connected = false;
  /** Names this replica in its notifications, so it skips its own. */
  private readonly origin = randomUUID();

  constructor(
    private readonly config: PostgresConfig,
    private readonly log: Logger,
  ) {}

  /** Publishes a change inside the writer's transaction: delivered only if it commits. */
  async notify(tx: Queryable, topic: string, key: string): Promise<void> {
    await tx.query("SELECT pg_notify($1, $2)", [CHANNEL, `${topic}:${this.origin}:${key}`]);
  }

  /** Calls handler with the key of each change of topic, or undefined when everything may have changed (after a reconnect). */
  subscribe(topic: string, handler: ChangeHandler): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** True while notifications arrive; while false, caches must not be trusted beyond their TTL. */
  get live(): boolean {
    return this.connected;
  }

  /** Calls onChange whenever the listener connects or loses its connection (PostgreSQL reachable or not). */
  watchLive(onChange: (live: boolean) => void): () => void {
    this.liveWatchers.add(onChange);
    return () => this.liveWatchers.delete(onChange);
  }

  private setLive(live: boolean): void {
    if (this.connected === live) return;
    this.connected = live;
    for (const w of this.liveWatchers) w(live);
  }

  /** Connects; resolves once listening, or once the first attempt failed (it keeps retrying). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.config.url, connectionTimeoutMillis: this.config.pool.connectionTimeoutMs, keepAlive: true, application_name: "openloop-listener" });
    client.on("notification", (msg) => {
      const payload = msg.payload ?? "";
      const first = payload.indexOf(":");
      const second = payload.indexOf(":", first + 1);
      if (first < 0 || second < 0 || payload.slice(first + 1, second) === this.origin) return;
      this.dispatch(payload.slice(0, first), payload.slice(second + 1));
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.setLive(false);
      if (this.closed) return;
      this.log.warn({ err: err?.message }, "postgres: change listener lost its connection; reconnecting");
      // Changes may now go unseen: every cache re-reads (and serves what it has if the database is down too).
      this.dispatchAll();
      this.schedule();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (!this.closed) this.schedule();
      this.log.debug({ err: (err as Error).message }, "postgres: change listener cannot connect yet");
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.setLive(true);
    // Whatever happened while we were not listening is unknown: everyone re-reads.
    this.dispatchAll();
  }

  private dispatchAll(): void {
    for (const topic of this.handlers.keys()) this.dispatch(topic, undefined);
  }

  private schedule(): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.connect(), 500);
    this.retry.unref();
  }

  private dispatch(topic: string, key: string | undefined): void {
    for (const h of this.handlers.get(topic) ?? []) {
      try {
        h(key);
      } catch (err) {
        this.log.error({ err, topic }, "postgres: a change handler failed");
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    this.setLive(false);
    await c?.end().catch(() => undefined);
  }
}
