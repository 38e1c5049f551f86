// Self time per call by function (and by directory) from a .cpuprofile: node bench/support/cpuprofile-top.mjs FILE CALLS [ROWS] [LAST_SECONDS]
import fs from "node:fs";
const p = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const calls = Number(process.argv[3] || 1);
const self = new Map();
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = new Map();
const win = Number(process.argv[5] || 0) * 1e6; // last N seconds, minus 0.5 s at the end
let ts = p.startTime; const stamps = p.timeDeltas.map((d) => (ts += d));
const endT = p.endTime - 0.5e6;
for (let i = 0; i < p.samples.length; i++) { if (win && (stamps[i] < endT - win || stamps[i] > endT)) continue; dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0)); }
let total = 0;
for (const [id, t] of dt) {
  const n = byId.get(id);
  const f = n.callFrame;
  const k = `${f.functionName || "(anon)"} ${f.url.replace(/.*node_modules\//, "").replace(/.*featlat\//, "")}:${f.lineNumber}`;
  self.set(k, (self.get(k) ?? 0) + t); total += t;
}
const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((a, [, t]) => a + t, 0);
console.log(`total ${(total/1e3).toFixed(0)} ms, idle ${(idle/1e3).toFixed(0)} ms, busy per call ${((total-idle)/calls).toFixed(1)} us`);
const byFile = new Map();
for (const [k, t] of self) { const file = k.split(" ")[1]?.replace(/:\d+$/, "").replace(/\/[^/]*$/, "") ?? ""; byFile.set(file, (byFile.get(file) ?? 0) + t); }
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[4] || 40))) console.log(`${(t / calls).toFixed(2).padStart(8)} us  ${(100 * t / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
console.log("--- by dir");
for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(t / calls).toFixed(2).padStart(8)} us  ${(100 * t / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
