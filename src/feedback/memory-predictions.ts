// The in-process prediction store, held in typed arrays: a ring of slots in the order the
// predictions were made (one TTL, so that is also their expiry order), each slot's id and input
// vector copied into shared 1 MiB slabs, the ids found through IdIndex. A prediction costs
// about 40 bytes of slot plus its id and vector, and no JavaScript object, where a Map of
// records cost about 1 KB of heap each for the garbage collector to walk (BENCHMARKS.md,
// Feedback).
import { IdIndex } from "./id-index.js";
import type { Task } from "./linear.js";
import type { ClaimResult, PredictionRecord, PredictionStore } from "./predictions.js";

const SLAB_BYTES = 1 << 20;
/** A record larger than this gets a slab of its own. */
const LARGE_RECORD_BYTES = SLAB_BYTES / 16;

const FREE = 0;
const LIVE = 1;
const CLAIMED = 2;

interface Slab {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly u16: Uint16Array;
}

function newSlab(bytes: number): Slab {
  const buffer = new ArrayBuffer(bytes);
  return { f64: new Float64Array(buffer), i32: new Int32Array(buffer), u16: new Uint16Array(buffer) };
}

/** A record's bytes: its values (8-byte aligned), indices, then its id's UTF-16 code units, padded to 8. */
const recordBytes = (nnz: number, idLength: number) => (nnz * 12 + idLength * 2 + 7) & ~7;

/** The in-process store: bounded (the oldest go first), expiring, claimable once. */
export class MemoryPredictionStore implements PredictionStore {
  private readonly capacity: number;
  private readonly state: Uint8Array;
  private readonly expiresAt: Float64Array;
  private readonly prediction: Float64Array;
  /** Each slot's (model, version, task), interned. */
  private readonly kind: Int32Array;
  /** Where each slot's record is: slab sequence number, byte offset, vector length, id length. */
  private readonly slabOf: Int32Array;
  private readonly offset: Int32Array;
  private readonly nnz: Int32Array;
  private readonly idLength: Int32Array;
  private readonly index: IdIndex;
  /** Oldest slot, and how many are in use from there on (some may be FREE: dropped early). */
  private head = 0;
  private count = 0;
  private live = 0;
  /** Slabs still holding records; slabs[k] has sequence number firstSlab + k, the last is being filled. */
  private slabs: Slab[] = [newSlab(SLAB_BYTES)];
  private firstSlab = 0;
  private used = 0;
  private readonly kinds = new KindTable();

  constructor(
    private readonly ttlMs: number,
    maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = maxEntries;
    this.state = new Uint8Array(maxEntries);
    this.expiresAt = new Float64Array(maxEntries);
    this.prediction = new Float64Array(maxEntries);
    this.kind = new Int32Array(maxEntries);
    this.slabOf = new Int32Array(maxEntries);
    this.offset = new Int32Array(maxEntries);
    this.nnz = new Int32Array(maxEntries);
    this.idLength = new Int32Array(maxEntries);
    this.index = new IdIndex(maxEntries, (slot, id) => this.idIs(slot, id));
  }

  /** Copies the record (its vectors included) before it returns: the caller may reuse them. */
  async put(id: string, record: PredictionRecord): Promise<boolean> {
    const t = this.now();
    this.evict(t);
    const existing = this.index.get(id);
    if (existing >= 0) {
      if (this.expiresAt[existing]! > t) return false;
      this.drop(existing); // expired behind a later one (the clock went back)
      this.evict(t);
    }
    this.store(id, record, t);
    return true;
  }

  add(id: string, record: PredictionRecord): Promise<boolean> {
    return this.put(id, record);
  }

  async claim(id: string): Promise<ClaimResult> {
    const slot = this.index.get(id);
    if (slot < 0 || this.expiresAt[slot]! <= this.now()) return { status: "missing" };
    if (this.state[slot] === CLAIMED) return { status: "already-claimed" };
    this.state[slot] = CLAIMED;
    return { status: "claimed", record: this.record(slot) };
  }

  async unclaim(id: string): Promise<void> {
    const slot = this.index.get(id);
    if (slot >= 0) this.state[slot] = LIVE;
  }

  /** Predictions held (expired ones included until the next put evicts them). */
  get size(): number {
    return this.live;
  }

  async close(): Promise<void> {
    while (this.count > 0) this.evictOldest();
  }

  private store(id: string, r: PredictionRecord, t: number): void {
    const slot = (this.head + this.count) % this.capacity;
    this.count++;
    const n = r.idx.length;
    const bytes = recordBytes(n, id.length);
    let slab: Slab;
    let at: number;
    if (bytes > LARGE_RECORD_BYTES) {
      slab = newSlab(bytes);
      this.slabs.push(slab);
      this.used = SLAB_BYTES; // the next record starts a fresh slab
      at = 0;
      this.slabOf[slot] = this.firstSlab + this.slabs.length - 1;
    } else {
      if (this.used + bytes > SLAB_BYTES) {
        this.slabs.push(newSlab(SLAB_BYTES));
        this.used = 0;
      }
      slab = this.slabs[this.slabs.length - 1]!;
      at = this.used;
      this.used += bytes;
      this.slabOf[slot] = this.firstSlab + this.slabs.length - 1;
    }
    const f = at >> 3;
    const i = (at + n * 8) >> 2;
    const u = (at + n * 12) >> 1;
    for (let k = 0; k < n; k++) {
      slab.f64[f + k] = r.val[k]!;
      slab.i32[i + k] = r.idx[k]!;
    }
    for (let k = 0; k < id.length; k++) slab.u16[u + k] = id.charCodeAt(k);
    this.offset[slot] = at;
    this.nnz[slot] = n;
    this.idLength[slot] = id.length;
    this.state[slot] = LIVE;
    this.live++;
    this.expiresAt[slot] = t + this.ttlMs;
    this.prediction[slot] = r.prediction;
    this.kind[slot] = this.kinds.take(r.model, r.version, r.task);
    this.index.set(id, slot);
  }

  /** The slot's record, its vectors views of the slab (which stays alive while they do). */
  private record(slot: number): PredictionRecord {
    const slab = this.slabs[this.slabOf[slot]! - this.firstSlab]!;
    const at = this.offset[slot]!;
    const n = this.nnz[slot]!;
    const k = this.kind[slot]!;
    return {
      model: this.kinds.model[k]!,
      version: this.kinds.version[k]!,
      task: this.kinds.task[k]!,
      prediction: this.prediction[slot]!,
      val: new Float64Array(slab.f64.buffer, at, n),
      idx: new Int32Array(slab.i32.buffer, at + n * 8, n),
    };
  }

  private idIs(slot: number, id: string): boolean {
    if (this.idLength[slot] !== id.length) return false;
    const slab = this.slabs[this.slabOf[slot]! - this.firstSlab]!;
    const u = (this.offset[slot]! + this.nnz[slot]! * 12) >> 1;
    for (let k = 0; k < id.length; k++) if (slab.u16[u + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  /** Drops the expired from the front, and the oldest while the store is full. */
  private evict(t: number): void {
    while (this.count > 0 && (this.count >= this.capacity || this.state[this.head] === FREE || this.expiresAt[this.head]! <= t)) this.evictOldest();
  }

  private evictOldest(): void {
    this.drop(this.head);
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    // Slabs before the oldest record left are no longer read here.
    const keep = this.count > 0 ? this.slabOf[this.head]! : this.firstSlab + this.slabs.length - 1;
    while (this.firstSlab < keep) {
      this.slabs.shift();
      this.firstSlab++;
    }
  }

  /** Forgets a slot's prediction; the slot itself is reused once it is the oldest. */
  private drop(slot: number): void {
    if (this.state[slot] === FREE) return;
    this.index.delete(slot);
    this.kinds.give(this.kind[slot]!);
    this.state[slot] = FREE;
    this.live--;
  }
}

/** (model, version, task) triples by number, counted, so that slots hold one int each. */
class KindTable {
  readonly model: string[] = [];
  readonly version: string[] = [];
  readonly task: Task[] = [];
  private readonly refs: number[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly free: number[] = [];
  /** The last kind taken: Predict takes the same one call after call. */
  private last = -1;

  take(model: string, version: string, task: Task): number {
    let k = this.last;
    if (k < 0 || this.model[k] !== model || this.version[k] !== version || this.task[k] !== task) {
      const key = `${task}\u0000${model}\u0000${version}`;
      k = this.byKey.get(key) ?? -1;
      if (k < 0) {
        k = this.free.pop() ?? this.model.length;
        this.model[k] = model;
        this.version[k] = version;
        this.task[k] = task;
        this.refs[k] = 0;
        this.byKey.set(key, k);
      }
      this.last = k;
    }
    this.refs[k]!++;
    return k;
  }

  give(k: number): void {
    if (--this.refs[k]! > 0) return;
    this.byKey.delete(`${this.task[k]}\u0000${this.model[k]}\u0000${this.version[k]}`);
    this.free.push(k);
    if (this.last === k) this.last = -1;
  }
}
