// Preload for feature-profile.ts (HEAPS=1): SIGUSR2 starts V8's sampling heap profiler keeping objects collected only by a major GC, SIGUSR2 again writes them to $HEAPSAMPLE_OUT. Caveat: a mark-compact also frees young garbage, so this is biased towards allocation volume. HEAPS_ALL=1 keeps the objects minor GCs free as well: every allocation, sampled.
import inspector from "node:inspector";
import fs from "node:fs";
const s = new inspector.Session();
s.connect();
let on = false;
process.on("SIGUSR2", () => {
  if (!on) {
    on = true;
    s.post("HeapProfiler.enable", () => s.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: Boolean(process.env.HEAPS_ALL) }, (e) => e && console.error(e)));
  } else {
    s.post("HeapProfiler.stopSampling", (e, r) => { if (e) console.error(e); fs.writeFileSync(process.env.HEAPSAMPLE_OUT, JSON.stringify(r.profile)); console.error("heapsample written"); });
  }
});
