// A probe for the server's peak memory through artifact transfers, run directly (not one of
// `npm run bench`'s sections): the compiled server with deploy/runtime.env (as production and
// `bench/registry.ts --compiled` run it), N rounds of (idle SLEEP ms, then a grpc-js upload, a
// Python upload, a grpc-js download and a Python download of one artifact); for each transfer
// its MiB/s, the server's CPU per MiB (user and system), its peak resident size (VmHWM, reset
// before it), its resident size and malloc's main heap ([heap] in smaps) after it, and the
// monotonic clock at its start and end (to cut a `perf record -k CLOCK_MONOTONIC` of the server
// with `perf report --time`). Unlike the registry bench it keeps each round's versions (unless DELETE=1), so later
// rounds write beside the earlier files. Environment:
//   MB=500 N=2 SLEEP=8000  artifact size, rounds, idle before each round (an MLflow transfer's gap)
//   SERVER_ARGS="--trace-gc"  node flags of the server; OUT=file  the server's output at the end
//   DELETE=1    delete each round's versions after it, as the registry bench does
//   DIRTY=MiB   before each round, write that much to a file without fsync (MLflow's server's way)
//   GDB=1       glibc's malloc_stats() of the server after each transfer (in OUT)
//   TAIL=ms     idle at the end, then the same figures (SNAPSHOT=1: a heap snapshot first, with
//               SERVER_ARGS="--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR")
//
//   npm run build && flock /tmp/openloop-bench.lock node --import tsx bench/support/rss-probe.ts
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { runtimeEnv } from "../../test/support/runtime-env.js";
import { spawnServer } from "../../test/support/spawn.js";
import { ROOT } from "../../test/support/tools.js";
import { registryClient, uploadRequests } from "../../test/registry/helpers.js";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { cpuMicros, cpuSplitMicros, resetPeakRss, statusBytes } from "./proc.js";
import { grpcJsClient, grpcJsDownload, grpcJsRegister } from "./registry-grpc-js.js";
import { pythonGrpcInstalled, pythonGrpcTransfer } from "./registry-python.js";

const MiB = 1 << 20;
const SIZE = Number(process.env.MB ?? 500) * MiB;
const N = Number(process.env.N ?? 2);
const SLEEP = Number(process.env.SLEEP ?? 8000);
const CHUNK = MiB - 16;

const work = await mkdtemp(path.join(os.tmpdir(), "openloop-rss-probe-"));
const source = path.join(work, "source.bin");
const data = randomBytes(SIZE);
const digest = createHash("sha256").update(data).digest("hex");
await writeFile(source, data);
function* chunks() {
  for (let i = 0; i < SIZE; i += CHUNK) yield data.subarray(i, Math.min(SIZE, i + CHUNK));
}

const server = await spawnServer({
  dataDir: path.join(work, "data"),
  command: { args: [...(process.env.SERVER_ARGS ?? "").split(" ").filter(Boolean), "dist/src/main.js"], cwd: ROOT },
  env: runtimeEnv(),
});
const status = (field: "VmHWM" | "VmRSS") => statusBytes(server.pid, field) / MiB;
const brk = () => {
  const smaps = readFileSync(`/proc/${server.pid}/smaps`, "utf8");
  const at = smaps.indexOf("[heap]");
  return at < 0 ? 0 : Number(/Rss:\s+(\d+)/.exec(smaps.slice(at))?.[1] ?? 0) / 1024;
};
const c = grpcJsClient(server.port);
const userSys = () => {
  const { user, system } = cpuSplitMicros(server.pid);
  return [user / 1000, system / 1000]; // ms
};
async function timed(label: string, fn: (onStart: () => void) => Promise<unknown>): Promise<void> {
  resetPeakRss(server.pid);
  let cpu0 = cpuMicros(server.pid);
  const us0 = userSys();
  const mono0 = Number(process.hrtime.bigint()) / 1e9;
  let t0 = performance.now();
  await fn(() => {
    cpu0 = cpuMicros(server.pid);
    t0 = performance.now();
  });
  const s = (performance.now() - t0) / 1000;
  if (process.env.GDB) execFileSync("gdb", ["-p", String(server.pid), "-batch", "-ex", "call (void)malloc_stats()"], { stdio: "ignore" });
  console.log(`${label.padEnd(10)} ${(SIZE / MiB / s).toFixed(0).padStart(4)} MiB/s  server ${((cpuMicros(server.pid) - cpu0) / 1000 / (SIZE / MiB)).toFixed(2)} ms/MiB (user ${((userSys()[0] - us0[0]) / (SIZE / MiB)).toFixed(2)} sys ${((userSys()[1] - us0[1]) / (SIZE / MiB)).toFixed(2)})  peak ${status("VmHWM").toFixed(1)} MiB  rss ${status("VmRSS").toFixed(1)}  brk ${brk().toFixed(1)}  mono ${mono0.toFixed(3)},${(Number(process.hrtime.bigint()) / 1e9).toFixed(3)}`);
}
try {
  const small = randomBytes(4 * MiB);
  await grpcJsRegister(c, uploadRequests({ name: "w", version: "1", type: "onnx" }, [{ name: "a", chunks: [small], sha256: createHash("sha256").update(small).digest("hex") }]));
  await grpcJsDownload(c, "w", "1", () => {});
  console.log(`idle after warm-up: rss ${status("VmRSS").toFixed(1)} MiB brk ${brk().toFixed(1)}`);
  for (let i = 1; i <= N; i++) {
    // DIRTY=MiB: another writer's file left in the page cache unflushed first (as MLflow's server leaves its uploads).
    if (process.env.DIRTY) await writeFile(path.join(work, `dirty-${i}.bin`), data.subarray(0, Number(process.env.DIRTY) * MiB));
    await new Promise((r) => setTimeout(r, SLEEP));
    const v = String(i);
    await timed("js up", () => grpcJsRegister(c, uploadRequests({ name: "js", version: v, type: "onnx" }, [{ name: "a", chunks: chunks(), sha256: digest }])));
    if (pythonGrpcInstalled()) await timed("py up", (onStart) => pythonGrpcTransfer({ mode: "upload", port: server.port, name: "py", version: v, file: source, uploadChunk: CHUNK }, onStart));
    await timed("js down", () => {
      const h = createHash("sha256");
      return grpcJsDownload(c, "js", v, (d) => h.update(d)).then(() => {
        if (h.digest("hex") !== digest) throw new Error("digest");
      });
    });
    if (pythonGrpcInstalled()) await timed("py down", (onStart) => pythonGrpcTransfer({ mode: "download", port: server.port, name: "py", version: v, file: path.join(work, "down.bin"), uploadChunk: CHUNK }, onStart));
    if (process.env.DELETE) {
      // As the registry bench does: free the round's files (and their page cache).
      const admin = registryClient(createGrpcTransport({ baseUrl: server.baseUrl }));
      await admin.deleteModelVersion({ name: "js", version: v });
      if (pythonGrpcInstalled()) await admin.deleteModelVersion({ name: "py", version: v });
      await rm(path.join(work, "down.bin"), { force: true });
    }
  }
  if (process.env.TAIL) {
    await new Promise((r) => setTimeout(r, Number(process.env.TAIL)));
    if (process.env.GDB) execFileSync("gdb", ["-p", String(server.pid), "-batch", "-ex", "call (void)malloc_stats()"], { stdio: "ignore" });
    if (process.env.SNAPSHOT) {
      server.kill("SIGUSR2");
      await new Promise((r) => setTimeout(r, 8000));
    }
    console.log(`after ${process.env.TAIL} ms idle: rss ${status("VmRSS").toFixed(1)} MiB brk ${brk().toFixed(1)}`);
  }
} finally {
  c.close();
  await server.stop();
  if (process.env.OUT) writeFileSync(process.env.OUT, server.output());
  await rm(work, { recursive: true, force: true });
}
