// A probe for profiling the plain HTTP artifact routes (not one of `npm run bench`'s sections):
// the compiled server as production runs it, and per round a copy of the file with dd (the
// baseline), a curl PUT and a curl GET of it (into a file, then sync), each with its MiB/s, the
// server's user and system CPU and its peak and current resident memory. Environment:
//   MB=500 N=3      size and rounds;  ONLY=up  uploads only
//   THREADS=1       the server's CPU by thread (main thread, hash worker, libuv and V8 threads)
//   DISK=1          how busy the data directory's disk was (/proc/diskstats: time with I/O in
//                   flight over the wall time) and what was written to it
//   SMAPS=1         at the end, the server's resident memory by mapping
//   PHASES=1        instead of the above: where a download's time goes. The server's send rate
//                   (N curl GETs into /dev/null back to back), then per round three writers of
//                   the same file, each timed writing and then in `sync FILE` apart: the copy
//                   (dd, 1 MiB blocks), curl's GET, and curl copying the source by file://
//                   (curl's writing with no server)
//   SERVER_ARGS="--cpu-prof --cpu-prof-dir=DIR"  node flags of the server;  CONFIG=file.yaml  its config
//
//   npm run build && flock /tmp/openloop-bench.lock node --import tsx bench/support/curl-transfer-probe.ts
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parse } from "yaml";
import { runtimeEnv } from "../../test/support/runtime-env.js";
import { spawnServer } from "../../test/support/spawn.js";
import { ROOT } from "../../test/support/tools.js";
import { cpuSplitMicros, resetPeakRss, statusBytes } from "./proc.js";

const MiB = 1 << 20;
const SIZE = Number(process.env.MB ?? 500) * MiB;
const N = Number(process.env.N ?? 3);
const work = mkdtempSync(path.join(os.tmpdir(), "openloop-curl-probe-"));
const source = path.join(work, "source.bin");
const data = randomBytes(SIZE);
writeFileSync(source, data);
const digest = createHash("sha256").update(data).digest("base64");
const server = await spawnServer({
  dataDir: path.join(work, "data"),
  ...(process.env.CONFIG ? { config: parse(readFileSync(process.env.CONFIG, "utf8")) as Record<string, unknown> } : {}),
  command: { args: [...(process.env.SERVER_ARGS ?? "").split(" ").filter(Boolean), "dist/src/main.js"], cwd: ROOT },
  env: runtimeEnv(),
});
const base = `http://127.0.0.1:${server.port}`;
const url = (version: string) => `${base}/registry/v1/models/probe/versions/${version}/artifacts/a.bin`;

/** CPU ticks (user + system) of each of the server's threads, by name and id. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(`${name}#${tid}`, Number(f[11]) + Number(f[12]));
  }
  return out;
}

/** The /proc/diskstats line of the block device holding `dir` (a whole disk or a partition). */
function diskOf(dir: string): () => { busyMs: number; writtenBytes: number } {
  const dev = statSync(dir).dev;
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & ~0xff);
  return () => {
    for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      // Fields after the name: reads, merged, sectors read, ms reading, writes, merged, sectors written, ms writing, in flight, ms doing I/O.
      if (Number(f[0]) === major && Number(f[1]) === minor) return { busyMs: Number(f[12]), writtenBytes: Number(f[9]) * 512 };
    }
    throw new Error(`no /proc/diskstats line for ${major}:${minor}`);
  };
}
const disk = process.env.DISK ? diskOf(work) : undefined;

function timed(label: string, run: () => void): void {
  resetPeakRss(server.pid);
  const disk0 = disk?.();
  const ticks0 = threadTicks(server.pid);
  const cpu0 = cpuSplitMicros(server.pid);
  const t0 = performance.now();
  run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSplitMicros(server.pid);
  const mb = (field: "VmHWM" | "VmRSS") => (statusBytes(server.pid, field) / 1e6).toFixed(0);
  console.log(
    `${label} ${(SIZE / MiB / seconds).toFixed(0)} MiB/s  server user ${((cpu1.user - cpu0.user) / 1e6).toFixed(2)} s system ${((cpu1.system - cpu0.system) / 1e6).toFixed(2)} s  peak ${mb("VmHWM")} MB, now ${mb("VmRSS")} MB`,
  );
  if (disk0) {
    const disk1 = disk!();
    console.log(`    disk busy ${(((disk1.busyMs - disk0.busyMs) / 1000 / seconds) * 100).toFixed(0)}% of the time, ${((disk1.writtenBytes - disk0.writtenBytes) / MiB).toFixed(0)} MiB written`);
  }
  if (process.env.THREADS) {
    const busy = [...threadTicks(server.pid)].map(([k, v]) => [k, v - (ticks0.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
    console.log("    " + busy.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / 100).toFixed(2)} s`).join(", "));
  }
}

const deleteVersion = (version: string) =>
  execFileSync("curl", ["-sS", "--fail", "-X", "POST", "-H", "content-type: application/json", "-d", JSON.stringify({ name: "probe", version }), `${base}/openloop.registry.v1.RegistryService/DeleteModelVersion`], { stdio: "ignore" });

/** The server's resident memory by mapping, and its largest anonymous mappings (resident/size). */
function smaps(pid: number): void {
  const rows: { name: string; size: number; rss: number }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) rows.push({ name: (head[3] || "[anon]").replace(/.*\//, ""), size: (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024, rss: 0 });
    else if (line.startsWith("Rss:")) rows[rows.length - 1]!.rss = Number(line.split(/\s+/)[1]);
  }
  const byName = new Map<string, number>();
  for (const r of rows) byName.set(r.name, (byName.get(r.name) ?? 0) + r.rss);
  console.log([...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${(v / 1024).toFixed(1)} MiB`).join(", "));
  const anon = rows.filter((r) => r.name === "[anon]").sort((a, b) => b.rss - a.rss);
  console.log("largest anonymous: " + anon.slice(0, 12).map((r) => `${(r.rss / 1024).toFixed(1)}/${(r.size / 1024).toFixed(0)} MiB`).join(", "));
}

/** The source PUT as `version` by curl, its digest in Content-Digest. */
const curlPut = (version: string) =>
  execFileSync("curl", ["-sS", "--fail-with-body", "-o", "/dev/null", "-T", source, "-H", 'openloop-model-version: {"type":"gguf"}', "-H", `content-digest: sha-256=:${digest}:`, url(version)]);

/** Runs a command that writes `file`, then `sync file`; prints both times and the rate of the whole. */
function writeThenSync(label: string, script: string, file: string, args: string[]): void {
  const t0 = performance.now();
  execFileSync("bash", ["-c", script, "_", ...args]);
  const t1 = performance.now();
  execFileSync("sync", [file]);
  const t2 = performance.now();
  console.log(`${label} write ${((t1 - t0) / 1000).toFixed(2)} s, sync ${((t2 - t1) / 1000).toFixed(2)} s: ${(SIZE / MiB / ((t2 - t0) / 1000)).toFixed(0)} MiB/s`);
  rmSync(file, { force: true });
}

/** One round of PHASES=1's writers; `version` already holds the source. */
function downloadPhases(version: string): void {
  const out = path.join(work, "out.bin");
  writeThenSync("copy (dd bs=1M)      ", `dd if="$1" of="$2" bs=1M status=none`, out, [source, out]);
  writeThenSync("curl GET             ", `curl -sS --fail -o "$2" "$1"`, out, [url(version), out]);
  writeThenSync("curl file:// (no server)", `curl -sS --fail -o "$2" "file://$1"`, out, [source, out]);
}

/** PHASES=1 (see the header), on one stored version. */
function phases(): void {
  curlPut("1");
  for (let i = 1; i <= N; i++) timed("GET into /dev/null", () => execFileSync("curl", ["-sS", "--fail", "-o", "/dev/null", url("1")]));
  for (let i = 1; i <= N; i++) downloadPhases("1");
  deleteVersion("1");
}

/** Per round: the copy, a curl PUT and (unless ONLY=up) a curl GET into a file. */
function transfers(): void {
  for (let i = 1; i <= N; i++) {
    const copy = path.join(work, "copy.bin");
    timed("copy", () => execFileSync("bash", ["-c", `dd if="$1" of="$2" bs=1M status=none && sync "$2"`, "_", source, copy]));
    rmSync(copy);
    timed("up  ", () => curlPut(String(i)));
    if (process.env.ONLY !== "up") {
      const down = path.join(work, "down.bin");
      timed("down", () => execFileSync("bash", ["-c", `curl -sS --fail -o "$1" "$2" && sync "$1"`, "_", down, url(String(i))]));
      rmSync(down, { force: true });
    }
    deleteVersion(String(i));
  }
}

try {
  if (process.env.PHASES) phases();
  else transfers();
  if (process.env.SMAPS) smaps(server.pid);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
