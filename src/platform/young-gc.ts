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

let sinceLast = 0;

/** Counts bytes moved by a transfer (all transfers together) and collects the young generation every few MiB. */
export function transferred(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < INTERVAL_BYTES) return;
  sinceLast = 0;
  gc?.({ type: "minor" });
}
