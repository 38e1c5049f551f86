// Prediction ids to slot numbers, in typed arrays: an open-addressing hash table (linear
// probing, deletion by backward shift) that holds no string or object per entry, so a store of
// 200,000 predictions gives the garbage collector nothing to walk. The ids themselves are kept
// by the caller; `matches` tells whether a slot holds a given id.

// The table holds slot + 1, so that 0 is an empty place and a new table needs no fill (its
// pages stay untouched until used, like the store's other arrays).
const EMPTY = 0;

export class IdIndex {
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Each slot's id hash, so a probe compares ids only when their hashes agree. */
  private readonly hashes: Int32Array;

  /** `slots`: the most entries held at once (slot numbers are 0 to slots - 1). */
  constructor(
    slots: number,
    private readonly matches: (slot: number, id: string) => boolean,
  ) {
    let size = 16;
    while (size < slots * 2) size *= 2; // at most half full: short probes
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.hashes = new Int32Array(slots);
  }

  /** The slot holding `id`, or -1. */
  get(id: string): number {
    const h = hashId(id);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const entry = this.table[i]!;
      if (entry === EMPTY) return -1;
      if (this.hashes[entry - 1] === h && this.matches(entry - 1, id)) return entry - 1;
    }
  }

  /** Files `slot` under `id`, which must not be in the index. */
  set(id: string, slot: number): void {
    const h = hashId(id);
    this.hashes[slot] = h;
    let i = h & this.mask;
    while (this.table[i] !== EMPTY) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
  }

  /** Removes `slot` (filed under its id earlier). */
  delete(slot: number): void {
    let i = this.hashes[slot]! & this.mask;
    while (this.table[i] !== slot + 1) {
      if (this.table[i] === EMPTY) return;
      i = (i + 1) & this.mask;
    }
    // Backward shift: entries after the hole that could sit in it move up, so no probe stops early.
    for (let j = (i + 1) & this.mask; this.table[j] !== EMPTY; j = (j + 1) & this.mask) {
      const home = this.hashes[this.table[j]! - 1]! & this.mask;
      // Move entry j into hole i unless its home lies cyclically in (i, j].
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.table[i] = this.table[j]!;
        i = j;
      }
    }
    this.table[i] = EMPTY;
  }
}

/** FNV-1a over the id's UTF-16 code units, mixed at the end (ids are short ASCII). */
function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 1; // non-negative
}
