// V8 heap settings of the server process, set by the entry point before anything else loads.
//
// Allocation-site pretenuring off. V8 allocates objects straight into the old generation from
// the allocation sites where it saw most objects survive a young collection. In the server
// those sites are shared by every call (HTTP/2 and grpc-js stream objects, Redis replies,
// request messages), and once a burst (a bulk load, a traffic spike) has tenured them, every
// later call's garbage lands in old space: measured at c=1 on Health/Check, 12 MB promoted
// per 0.5 s, a mark-compact every few seconds and scavenges of 14-109 ms (they scan the old
// objects pointing into the young generation). Without pretenuring the same load promotes
// 0.5 MB per 0.5 s and its scavenges take 1.6-3 ms.
//
// The young generation kept at its initial size (1 MB semi-spaces) instead of growing to 32 MB.
// The more calls a young generation spans, the more of their short-lived objects a scavenge
// finds still referenced and promotes: on 100-entity BatchGetFeatures at c=1, 4-12 MB per
// scavenge with 32 MB semi-spaces (a mark-compact every 1.7 s, scavenges of 5-20 ms), 0.09 MB
// with 1-2 MB ones (scavenges of 0.5 ms). `--max-semi-space-size` cannot change after start;
// the growth factor can. A `--max-semi-space-size` given on the command line or in
// NODE_OPTIONS is left to rule instead. Details in BENCHMARKS.md ("Targets still missed").
import v8 from "node:v8";

const semiSpaceGiven = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].some((a) => a.includes("semi-space"));

export const V8_HEAP_FLAGS: readonly string[] = ["--no-allocation-site-pretenuring", ...(semiSpaceGiven ? [] : ["--semi-space-growth-factor=1"])];

for (const flag of V8_HEAP_FLAGS) v8.setFlagsFromString(flag);
