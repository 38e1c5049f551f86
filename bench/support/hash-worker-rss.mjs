// What the hash worker costs in resident memory (not one of `npm run bench`'s sections): this
// process's anonymous and file-backed resident memory (RssAnon, RssFile) before the worker
// starts, while it hashes 64 MiB of shared memory, and after it is stopped, three times over.
// Runs the compiled module, as production does, so the worker loads nothing but its own source.
// Node and V8 flags given to this process apply to the worker's isolate too.
//   npm run build && node bench/support/hash-worker-rss.mjs
//   node --no-short-builtin-calls bench/support/hash-worker-rss.mjs
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { stopHashWorker, WorkerSha256 } from "../../dist/src/registry/hash-worker.js";

const MiB = 1 << 20;
const resident = () => {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)[1]) / 1024;
  return { anon: field("RssAnon"), file: field("RssFile") };
};
const show = (label, at, base) =>
  console.log(`${label.padEnd(16)} anon ${at.anon.toFixed(1)} MiB (${(at.anon - base.anon).toFixed(1)}), file ${at.file.toFixed(1)} MiB (${(at.file - base.file).toFixed(1)})`);

const bytes = new Uint8Array(new SharedArrayBuffer(MiB)).fill(7);
await sleep(300);
const before = resident();
show("before", before, before);
// Three starts and stops, as a server idle for 10 s between transfers does them.
for (let run = 1; run <= 3; run++) {
  const hash = new WorkerSha256();
  for (let i = 0; i < 64; i++) await hash.update(bytes);
  await hash.digest();
  await sleep(300);
  show(`worker ${run} running`, resident(), before);
  await stopHashWorker();
  await sleep(300);
  show(`worker ${run} stopped`, resident(), before);
}
