// The floor of receiving an upload in Node (not one of `npm run bench`'s sections): a bare
// node:http server that only counts the bytes of a curl PUT (no hash, no file), with its CPU per
// transfer from /proc. What an artifact upload costs the event loop before openloop does anything.
//   MB=500 N=3   flock /tmp/openloop-bench.lock node --import tsx bench/support/bare-http-sink.ts
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { cpuSplitMicros } from "./proc.js";

const MiB = 1 << 20;
const SIZE = Number(process.env.MB ?? 500) * MiB;
const work = mkdtempSync(path.join(os.tmpdir(), "openloop-http-sink-"));
const source = path.join(work, "source.bin");
writeFileSync(source, randomBytes(SIZE));
const server = http.createServer((req, res) => {
  let bytes = 0;
  req.on("data", (chunk: Buffer) => (bytes += chunk.byteLength));
  req.on("end", () => res.end(String(bytes)));
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;
try {
  for (let i = 0; i < Number(process.env.N ?? 3); i++) {
    // curl runs in a child process, so this process's CPU is the server's.
    const cpu0 = cpuSplitMicros(process.pid);
    const t0 = performance.now();
    const got = await new Promise<string>((resolve, reject) =>
      execFile("curl", ["-sS", "--fail", "-T", source, `http://127.0.0.1:${port}/sink`], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSplitMicros(process.pid);
    if (Number(got) !== SIZE) throw new Error(`the sink counted ${got} bytes`);
    console.log(`${(SIZE / MiB / seconds).toFixed(0)} MiB/s  CPU user ${((cpu1.user - cpu0.user) / 1e6).toFixed(2)} s system ${((cpu1.system - cpu0.system) / 1e6).toFixed(2)} s`);
  }
} finally {
  server.close();
  rmSync(work, { recursive: true, force: true });
}
