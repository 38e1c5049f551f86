// V8 heap settings of the server process, set by the entry point before anything else loads.
//
// Allocation-site pretenuring off. V8 allocates objects straight into the old generation from
// the allocation sites where it saw most objects survive a young collection. In the server
// those sites are shared by every call (HTTP/2 and grpc-js stream objects, Redis replies,
// request messages), and once a burst (a bulk load, a traffic spike) has tenured them, every
// later call's garbage lands in old space: measured at c=1 on Health/Check, 12 MB promoted
// per 0.5 s, a mark-compact every few seconds and scavenges of 14-109 ms (they scan the old
// objects pointing into the young generation). Without pretenuring the same load promotes
// 0.5 MB per 0.5 s and its scavenges take 1.6-3 ms (BENCHMARKS.md, "Targets once missed").
//
// The old generation's growing factor fixed (young-gc.ts frees transfer buffers; this keeps
// full collections rare while it does).
import v8 from "node:v8";

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
export const V8_HEAP_FLAGS = ["--no-allocation-site-pretenuring", "--heap-growing-percent=200"] as const;

for (const flag of V8_HEAP_FLAGS) v8.setFlagsFromString(flag);
