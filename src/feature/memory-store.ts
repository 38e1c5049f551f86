// Embedded feature store: a bounded map with least-recently-used eviction and
// exact TTL expiry (an expired entity reads as missing, never as a stale value).
import type { FeatureStore, SetRef } from "./store.js";
import type { Features } from "./value.js";

interface Entry {
  readonly features: Features;
  /** Epoch milliseconds; 0 means never. */
  readonly expiresAt: number;
}

export class MemoryFeatureStore implements FeatureStore {
  // A Map iterates in insertion order: re-inserting on access makes the first entry the least recently used.
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  async put(set: SetRef, entityKey: string, features: Features, ttlMs: number): Promise<void> {
    const key = storeKey(set, entityKey);
    this.entries.delete(key);
    this.entries.set(key, { features, expiresAt: ttlMs > 0 ? this.now() + ttlMs : 0 });
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  async get(set: SetRef, entityKey: string): Promise<Features | undefined> {
    return this.read(storeKey(set, entityKey), this.now());
  }

  async getMany(set: SetRef, entityKeys: readonly string[]): Promise<(Features | undefined)[]> {
    const now = this.now();
    return entityKeys.map((k) => this.read(storeKey(set, k), now));
  }

  async delete(set: SetRef, entityKeys: readonly string[]): Promise<number> {
    const now = this.now();
    let deleted = 0;
    for (const k of new Set(entityKeys)) {
      const key = storeKey(set, k);
      const e = this.entries.get(key);
      if (e !== undefined && this.entries.delete(key) && !expired(e, now)) deleted++;
    }
    return deleted;
  }

  async dropSet(set: SetRef): Promise<void> {
    const prefix = storeKey(set, "");
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private read(key: string, now: number): Features | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (expired(e, now)) return undefined;
    this.entries.set(key, e);
    return e.features;
  }
}

function expired(e: Entry, now: number): boolean {
  return e.expiresAt !== 0 && e.expiresAt <= now;
}

function storeKey(set: SetRef, entityKey: string): string {
  return `${set.name}\u0000${set.generation}\u0000${entityKey}`;
}
