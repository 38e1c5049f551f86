// V8 heap settings of the server process, set by the entry point before anything else loads.
//
// Allocation-site pretenuring off. V8 allocates objects straight into the old generation from
// the allocation sites where it saw most objects survive a young collection. In the server
// those sites are shared by every call (HTTP/2 and grpc-js stream objects, Redis replies,
// request messages), and once a burst (a bulk load, a traffic spike) has tenured them, every
// later call's garbage lands in old space: measured at c=1 on Health/Check, 12 MB promoted
// per 0.5 s, a mark-compact every few seconds and scavenges of 14-109 ms (they scan the old
// objects pointing into the young generation). Without pretenuring the same load promotes
// 0.5 MB per 0.5 s and its scavenges take 1.6-3 ms (BENCHMARKS.md, "Targets still missed").
import v8 from "node:v8";

export const V8_HEAP_FLAGS = ["--no-allocation-site-pretenuring"] as const;

for (const flag of V8_HEAP_FLAGS) v8.setFlagsFromString(flag);
