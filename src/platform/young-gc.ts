// Frees the transport's dead message buffers during large transfers.
//
// Every MiB of an artifact passes through buffers that live for a moment: HTTP/2 read buffers
// and the gRPC server's reassembled messages on the way in, its framed copies on the way out.
// Node 24's V8 (13.x) reclaims the memory of such dead ArrayBuffers only with a full
// mark-compact of the whole heap, started each time about 64 MB of them have piled up
// (Node 20's V8 ran a cheap scavenge for that). Measured on a 200 MiB upload: 17 full GCs,
// half of the server's CPU, and 70 MiB of dead buffers resident at the peak. A scavenge every
// few MiB frees them while they are still young, for a fraction of a millisecond each.
//
// Buffers that were still in use at two scavenges (an upload waiting for the disk, with the
// HTTP/2 window and the write-behind queue full) are promoted, and dead promoted buffers wait
// for the next full collection: V8 starts one only 64 MB of external memory later, and after
// the first rounds of 500 MiB transfers they were 20-35 MiB of the server's peak resident
// size. So a full collection also runs once the external memory has grown EXTERNAL_GROWTH_BYTES
// above its lowest point since the last one (BENCHMARKS.md, registry section).
import v8 from "node:v8";
import vm from "node:vm";

/**
 * Bytes of transfer between two young-generation collections. 2 MiB against 4, alternated in the
 * registry bench (500 MiB, compiled): server peak 144-147 MB against 150, with no more CPU per
 * MiB; 1 MiB freed no more (144-147 MB).
 */
const INTERVAL_BYTES = 2 * 1024 * 1024;
/**
 * Growth of external memory (ArrayBuffers) over its lowest point since the last full collection
 * that starts another. 8 MiB: 2-3 full collections of 10-30 ms per 500 MiB uploaded; 4 MiB cost
 * 30% more server CPU per MiB, 16 MiB left 5-10 MiB more resident.
 */
const EXTERNAL_GROWTH_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of transfer at least between two such full collections, so that live buffers that come
 * and go (many concurrent transfers) cannot make them run back to back: at most one per 32 MiB.
 */
const FULL_GC_MIN_INTERVAL_BYTES = 32 * 1024 * 1024;

type Gc = (options: { type: "minor" | "major"; execution?: "sync" | "async" }) => void;

// V8's gc() is reachable only through --expose-gc: set for the moment one context is made to
// hand it over, then cleared, so no later context (user-regex.ts makes some) sees it.
function exposeGc(): Gc | undefined {
  const already = (globalThis as { gc?: Gc }).gc;
  if (already) return already;
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as Gc;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
}

const gc = exposeGc();

let sinceLast = 0;
let sinceFull = 0;
/** Lowest external memory seen since the last full collection this module ran. */
let externalLow = Infinity;

/**
 * A full collection now, for memory that has just become garbage while the server is idle (the
 * registry's transfer buffers after an idle spell, direct-io.ts): left to V8, it stays resident
 * until the next transfer's collections, on top of that transfer's own buffers.
 */
export function collectAll(): void {
  if (!gc) return;
  gc({ type: "major" });
  externalLow = Infinity;
  sinceFull = 0;
}

/** Counts bytes moved by a transfer (all transfers together); collects the young generation every few MiB, the whole heap when dead buffers pile up. */
export function transferred(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < INTERVAL_BYTES) return;
  sinceFull += sinceLast;
  sinceLast = 0;
  if (!gc) return;
  gc({ type: "minor" });
  // Read at the next interval, not right after a full collection: V8 frees dead buffers'
  // memory on a background thread after it, so the lowest point comes a little later.
  const external = v8.getHeapStatistics().external_memory;
  if (external < externalLow) externalLow = external;
  else if (external - externalLow > EXTERNAL_GROWTH_BYTES && sinceFull >= FULL_GC_MIN_INTERVAL_BYTES) {
    gc({ type: "major" });
    externalLow = Infinity;
    sinceFull = 0;
  }
}
