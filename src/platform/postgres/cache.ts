// The read cache of a shared store: hot reads are answered from memory, so sharing costs them
// nothing. Entries are grouped (a model, a pipeline): a change notification marks a group stale,
// a TTL is the safety net for a lost notification, and while the database is unreachable a
// stale entry is served rather than failing a read that was cached.
import { Code, ConnectError } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";

interface Entry<V> {
  value: V;
  at: number;
  stale: boolean;
}

export interface SharedCacheOptions {
  /** An entry is re-read after this long, in milliseconds. */
  readonly ttlMs: number;
  /** Entries kept at most (least recently used go first). */
  readonly max: number;
  readonly now?: () => number;
}

export class SharedCache<V extends {}> {
  private readonly entries: LRUCache<string, Entry<V>>;
  private readonly groups = new Map<string, Set<string>>();
  private readonly now: () => number;
  /** Bumped by every invalidation: a load that started before one must not store what it read. */
  private epoch = 0;

  constructor(private readonly options: SharedCacheOptions) {
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache<string, Entry<V>>({
      max: options.max,
      dispose: (_v, key) => {
        const group = groupOf(key);
        const set = this.groups.get(group);
        set?.delete(key);
        if (set?.size === 0) this.groups.delete(group);
      },
    });
  }

  /** The cached value, or what `load` reads (undefined: absent, not cached, so a creation elsewhere shows at once). */
  async get(group: string, key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const k = `${group}\u0000${key}`;
    const entry = this.entries.get(k);
    if (entry && !entry.stale && this.now() - entry.at < this.options.ttlMs) return entry.value;
    const epoch = this.epoch;
    let value: V | undefined;
    try {
      value = await load();
    } catch (err) {
      if (entry && err instanceof ConnectError && err.code === Code.Unavailable) return entry.value;
      throw err;
    }
    if (value === undefined) {
      this.entries.delete(k);
    } else if (epoch === this.epoch) {
      this.entries.set(k, { value, at: this.now(), stale: false });
      let set = this.groups.get(group);
      if (!set) this.groups.set(group, (set = new Set()));
      set.add(k);
    }
    return value;
  }

  /** Marks a group stale (undefined: every group): its next read goes to the database. */
  invalidate(group?: string): void {
    this.epoch++;
    const keys = group === undefined ? [...this.entries.keys()] : [...(this.groups.get(group) ?? [])];
    for (const k of keys) {
      const e = this.entries.peek(k);
      if (e) e.stale = true;
    }
  }
}

function groupOf(key: string): string {
  return key.slice(0, key.indexOf("\u0000"));
}
