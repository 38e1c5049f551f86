// The disk's write rate for an artifact's bytes (not one of `npm run bench`'s sections): 500 MiB
// of random bytes written with O_DIRECT in blocks of 1-16 MiB with 1-8 writes in flight, then
// fsync, against a buffered write in 1 MiB blocks and an fsync (the registry bench's copy), and
// buffered writes with an fdatasync started in the background every 8 or 32 MiB (the registry's
// buffered files, src/registry/artifact-io.ts), each case three times, interleaved. O_DIRECT is
// what the registry's files use by default (src/registry/direct-io.ts).
//   flock /tmp/openloop-bench.lock node bench/support/odirect-write-probe.mjs [DIR]
import { randomFillSync } from "node:crypto";
import { constants as C } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const MiB = 1 << 20;
const TOTAL = 500 * MiB;
const dir = await mkdtemp(path.join(process.argv[2] ?? os.tmpdir(), "openloop-odirect-"));

/**
 * MiB/s of writing TOTAL bytes with `inFlight` writes of `block` bytes at once, then fsync; with
 * `writeBack`, an fdatasync starts (one at a time) each time that many bytes more were written.
 */
async function rate(block, inFlight, direct, writeBack = 0) {
  const file = path.join(dir, "w.bin");
  const fh = await open(file, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | (direct ? C.O_DIRECT : 0), 0o644);
  // A WebAssembly memory starts on a page, as O_DIRECT needs (direct-io.ts does the same).
  const buffers = Array.from({ length: inFlight }, () => randomFillSync(Buffer.from(new WebAssembly.Memory({ initial: block / 65536, maximum: block / 65536 }).buffer)));
  let next = 0;
  let unsynced = 0;
  let syncing;
  const t0 = performance.now();
  await Promise.all(
    buffers.map(async (b) => {
      for (let at = next; at < TOTAL; at = next) {
        next += block;
        await fh.write(b, 0, block, at);
        unsynced += block;
        if (writeBack > 0 && unsynced >= writeBack && !syncing) {
          unsynced = 0;
          syncing = fh.datasync().finally(() => (syncing = undefined));
        }
      }
    }),
  );
  await syncing;
  await fh.sync();
  const seconds = (performance.now() - t0) / 1000;
  await fh.close();
  await rm(file);
  return TOTAL / MiB / seconds;
}

const cases = [[1, 1, false], [1, 1, false, 8], [1, 1, false, 32], [1, 1, true], [1, 4, true], [4, 1, true], [4, 2, true], [4, 4, true], [8, 2, true], [16, 2, true], [1, 8, true]];
const rates = new Map();
try {
  for (let round = 0; round < 3; round++) {
    for (const [mib, inFlight, direct, writeBackMiB = 0] of cases) {
      const key = `${direct ? "O_DIRECT" : "buffered"}, ${mib} MiB blocks, ${inFlight} in flight${writeBackMiB ? `, write-back every ${writeBackMiB} MiB` : ""}`;
      rates.set(key, [...(rates.get(key) ?? []), (await rate(mib * MiB, inFlight, direct, writeBackMiB * MiB)).toFixed(0)]);
    }
  }
  for (const [key, r] of rates) console.log(`${key.padEnd(62)} ${r.join(", ")} MiB/s`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
