// Feature store on Redis (standalone or Cluster). One entity per key:
//   <prefix>{<set>}:<generation>:<entity key>  ->  StoredFeatures in protobuf binary, PX expiry.
// The `{set}` hash tag puts every key of a set in one cluster slot, so a batch read
// is a single MGET on one node. The cost: one set lives on one node of a cluster.
// Commands fail fast instead of queueing while Redis is away (no offline queue,
// no resend, a command timeout), and the client reconnects by itself.
import type { Cluster, Redis } from "ioredis";
import { createRedisClient, createRedisClusterClient, ioredis, RedisProbe, redisReady } from "../platform/redis.js";
import { mgetBuffers } from "../platform/redis-mget.js";
import type { Logger } from "pino";
import type { FeatureStore, SetRef } from "./store.js";
import { StoreUnavailableError } from "./store.js";

export interface RedisStoreOptions {
  /** redis:// URL of a standalone server (ignored when clusterNodes is not empty). */
  readonly url?: string;
  /** host:port (or redis:// URL) seeds of a Redis Cluster. */
  readonly clusterNodes: readonly string[];
  readonly keyPrefix: string;
  /** A command that gets no answer in this time fails as unavailable. */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly log: Logger;
}

// Reply errors that mean "not now" rather than "wrong".
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|READONLY)\b/;

export class RedisFeatureStore implements FeatureStore {
  private readonly client: Redis | Cluster;
  private readonly prefix: string;
  private down = false;
  /** Whether Redis answers: FeatureService's health follows it. */
  readonly probe: RedisProbe;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    // The server's one Redis client policy (src/platform/redis.ts).
    const policy = { commandTimeoutMs: options.commandTimeoutMs, connectTimeoutMs: options.connectTimeoutMs };
    if (options.clusterNodes.length > 0) this.client = createRedisClusterClient(options.clusterNodes, policy);
    else if (options.url) this.client = createRedisClient(options.url, policy);
    else throw new Error("the redis feature store needs redis.url or feature.redis.clusterNodes");
    this.probe = new RedisProbe(this.client, options.commandTimeoutMs);
    this.client.on("error", (err: Error) => {
      if (!this.down) options.log.warn({ err: err.message }, "feature store: redis connection error; calls answer UNAVAILABLE until it returns");
      this.down = true;
    });
    this.client.on("ready", () => {
      if (this.down) options.log.info("feature store: redis connection ready again");
      this.down = false;
    });
  }

  /** Waits until the connection is ready, up to `ms`; false when Redis did not answer in time (the client keeps trying). */
  waitReady(ms: number): Promise<boolean> {
    return redisReady(this.client, ms);
  }

  async put(set: SetRef, entityKey: string, stored: Uint8Array, ttlMs: number): Promise<void> {
    const value = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    const key = this.key(set, entityKey);
    await this.call(() => (ttlMs > 0 ? this.client.set(key, value, "PX", ttlMs) : this.client.set(key, value)));
  }

  // The *Buffer commands: values arrive as the bytes Redis holds, never decoded as UTF-8.
  async get(set: SetRef, entityKey: string): Promise<Uint8Array | undefined> {
    return (await this.call(() => this.client.getBuffer(this.key(set, entityKey)))) ?? undefined;
  }

  async getMany(set: SetRef, entityKeys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    if (entityKeys.length === 0) return [];
    const values = await this.call(() => mgetBuffers(this.client, this.key(set, ""), entityKeys));
    return values.map((b) => b ?? undefined);
  }

  async delete(set: SetRef, entityKeys: readonly string[]): Promise<number> {
    if (entityKeys.length === 0) return 0;
    const keys = [...new Set(entityKeys)].map((k) => this.key(set, k));
    return this.call(() => this.client.del(...keys));
  }

  async dropSet(set: SetRef): Promise<void> {
    const match = `${escapeGlob(this.key(set, ""))}*`;
    const nodes = this.client instanceof ioredis().Cluster ? this.client.nodes("master") : [this.client];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await this.call(() => node.scan(cursor, "MATCH", match, "COUNT", 1000));
        cursor = next;
        if (keys.length > 0) await this.call(() => node.unlink(...keys));
      } while (cursor !== "0");
    }
  }

  async close(): Promise<void> {
    this.probe.close();
    this.client.disconnect();
  }

  private key(set: SetRef, entityKey: string): string {
    return `${this.prefix}{${set.name}}:${set.generation}:${entityKey}`;
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      if ((err as Error).name === "ReplyError" && !TRANSIENT_REPLY.test(message)) throw new Error(`redis: ${message}`);
      this.probe.failed();
      throw new StoreUnavailableError(`feature store (redis) unavailable: ${message}`);
    }
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, "\\$&");
}
