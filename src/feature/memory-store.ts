// Embedded feature store: a map bounded by entity count and by approximate bytes,
// with least-recently-used eviction and exact TTL expiry (an expired entity reads
// as missing, never as a stale value). It holds the encoded bytes, as Redis does:
// compact, and read into responses without decoding.
import type { FeatureStore, SetRef } from "./store.js";

interface Entry {
  readonly stored: Uint8Array;
  /** Epoch milliseconds; 0 means never. */
  readonly expiresAt: number;
  readonly bytes: number;
}

export interface MemoryStoreLimits {
  readonly maxEntries: number;
  /** Approximate heap bytes of the stored values (encoded values, keys, per-entry overhead). */
  readonly maxBytes: number;
}

export class MemoryFeatureStore implements FeatureStore {
  // A Map iterates in insertion order: re-inserting on access makes the first entry the least recently used.
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly limits: MemoryStoreLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Approximate bytes held. */
  get byteSize(): number {
    return this.bytes;
  }

  async put(set: SetRef, entityKey: string, stored: Uint8Array, ttlMs: number): Promise<void> {
    const key = storeKey(set, entityKey);
    this.remove(key);
    const entry: Entry = { stored, expiresAt: ttlMs > 0 ? this.now() + ttlMs : 0, bytes: ENTRY_OVERHEAD + key.length * 2 + stored.buffer.byteLength };
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    while (this.entries.size > this.limits.maxEntries || (this.bytes > this.limits.maxBytes && this.entries.size > 1)) {
      this.remove(this.entries.keys().next().value!);
    }
  }

  async get(set: SetRef, entityKey: string): Promise<Uint8Array | undefined> {
    return this.read(storeKey(set, entityKey), this.now());
  }

  async getMany(set: SetRef, entityKeys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const now = this.now();
    return entityKeys.map((k) => this.read(storeKey(set, k), now));
  }

  async delete(set: SetRef, entityKeys: readonly string[]): Promise<number> {
    const now = this.now();
    let deleted = 0;
    for (const k of new Set(entityKeys)) {
      const e = this.remove(storeKey(set, k));
      if (e !== undefined && !expired(e, now)) deleted++;
    }
    return deleted;
  }

  async dropSet(set: SetRef): Promise<void> {
    const prefix = storeKey(set, "");
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.remove(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    return e;
  }

  private read(key: string, now: number): Uint8Array | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (expired(e, now)) {
      this.remove(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.stored;
  }
}

function expired(e: Entry, now: number): boolean {
  return e.expiresAt !== 0 && e.expiresAt <= now;
}

function storeKey(set: SetRef, entityKey: string): string {
  return `${set.name}\u0000${set.generation}\u0000${entityKey}`;
}

// Rough V8 sizes of a map entry, its key and an Entry holding a Uint8Array; the value's
// backing store counts whole (a view into a larger buffer keeps all of it alive).
const ENTRY_OVERHEAD = 240;
