// Per-process response cache: a bounded LRU whose entries expire after the TTL.
import { LRUCache } from "lru-cache";
import type { CachedAnswer, ResponseCache } from "./cache.js";

export class MemoryResponseCache implements ResponseCache {
  private readonly lru: LRUCache<string, CachedAnswer>;

  constructor(options: { maxEntries: number; ttlMs: number }) {
    this.lru = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    return this.lru.get(key);
  }

  async set(key: string, answer: CachedAnswer): Promise<void> {
    this.lru.set(key, answer);
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
