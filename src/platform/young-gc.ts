// Frees the transport's dead message buffers while they are young, during large transfers.
//
// Every MiB of an artifact passes through buffers that live for a moment: HTTP/2 read buffers
// and grpc-js's reassembled messages on the way in, grpc-js's framed copies on the way out.
// Node 24's V8 (13.x) reclaims the memory of such dead ArrayBuffers only with a full
// mark-compact of the whole heap, started each time about 64 MB of them have piled up
// (Node 20's V8 ran a cheap scavenge for that). Measured on a 200 MiB upload: 17 full GCs,
// half of the server's CPU, and 70 MiB of dead buffers resident at the peak. A scavenge every
// few MiB frees them while they are still young, for a fraction of a millisecond each.
import v8 from "node:v8";
import vm from "node:vm";

/** Bytes of transfer between two young-generation collections. */
const INTERVAL_BYTES = 4 * 1024 * 1024;

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

// The old generation's next limit after each full GC is its live size times a growing factor,
// and V8 starts incremental marking as soon as the room left under that limit is smaller than
// the young generation, which a long transfer grows to its maximum. With V8's own factor (and
// after ~10 s idle, when the memory reducer leaves the heap growing "slowly", barely above the
// live size) a transfer ran a mark-compact every 60-250 ms: 42 per 2 × 256 MiB upload after
// idle (5.7-7.3 ms of server CPU per MiB, against 2-3 back to back), 17 per 2 × 128 MiB S3
// upload at a factor of 1.5. A fixed factor of 3 leaves room for the young generation: 4 and
// 7 mark-compacts, 2.3-2.6 and 4.5-4.7 ms/MiB, the committed heap peaking at the same 98-100
// MB (the limit is only a threshold; the old generation grows little during a transfer).
// V8 reads the flag each time it sets a limit, so it can be set at run time.
v8.setFlagsFromString("--heap-growing-percent=200");
let sinceLast = 0;

/** Counts bytes moved by a transfer (all transfers together) and collects the young generation every few MiB. */
export function transferred(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < INTERVAL_BYTES) return;
  sinceLast = 0;
  gc?.({ type: "minor" });
}
