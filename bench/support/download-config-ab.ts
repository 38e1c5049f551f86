// A probe for settings of the download path (not one of `npm run bench`'s sections): two or more
// compiled servers, each with its own registry config, hold the same 500 MiB artifact (a curl
// PUT); then, per round and per server in turn, the copy baseline (dd in 1 MiB blocks, then
// fsync) and a download by Python's standard library (bench/support/registry-python.ts: urllib,
// 1 MiB reads into a file, then fsync, as in the registry bench). Prints each download's ratio
// to the copy just before it, the server's CPU, and per config the median ratio. Environment:
//   N=5 MB=500
//   CONFIGS='[{"registry":{"verifyOnDownload":true}},{"registry":{"verifyOnDownload":false}}]'
//
//   npm run build && flock /tmp/openloop-bench.lock node --import tsx bench/support/download-config-ab.ts
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { runtimeEnv } from "../../test/support/runtime-env.js";
import { spawnServer, type SpawnedServer } from "../../test/support/spawn.js";
import { ROOT } from "../../test/support/tools.js";
import { cpuMicros, median } from "./proc.js";
import { pythonHttpTransfer } from "./registry-python.js";

const MiB = 1 << 20;
const MB = Number(process.env.MB ?? 500);
const N = Number(process.env.N ?? 5);
const configs = JSON.parse(process.env.CONFIGS ?? '[{"registry":{"verifyOnDownload":true}},{"registry":{"verifyOnDownload":false}}]') as Record<string, unknown>[];

const work = mkdtempSync(path.join(os.tmpdir(), "openloop-download-ab-"));
const source = path.join(work, "source.bin");
const data = randomBytes(MB * MiB);
writeFileSync(source, data);
const digest = createHash("sha256").update(data).digest("base64");

const servers: SpawnedServer[] = [];
try {
  for (const [i, config] of configs.entries()) {
    const server = await spawnServer({ dataDir: path.join(work, `data${i}`), config, command: { args: ["dist/src/main.js"], cwd: ROOT }, env: runtimeEnv() });
    servers.push(server);
    const url = `http://127.0.0.1:${server.port}/registry/v1/models/ab/versions/1/artifacts/model.gguf`;
    execFileSync("curl", ["-sS", "--fail", "-o", "/dev/null", "-T", source, "-H", `content-digest: sha-256=:${digest}:`, "-H", 'openloop-model-version: {"type":"gguf"}', url]);
  }
  const ratios: number[][] = configs.map(() => []);
  for (let round = 1; round <= N; round++) {
    for (const [i, server] of servers.entries()) {
      const copy = path.join(work, "copy.bin");
      const t0 = performance.now();
      execFileSync("dd", [`if=${source}`, `of=${copy}`, "bs=1M", "conv=fsync", "status=none"]);
      const copySeconds = (performance.now() - t0) / 1000;
      rmSync(copy);
      const down = path.join(work, "down.bin");
      let cpu0 = 0;
      const r = await pythonHttpTransfer({ mode: "download", port: server.port, name: "ab", version: "1", file: down, sha256Base64: digest }, () => (cpu0 = cpuMicros(server.pid)));
      const serverCpu = (cpuMicros(server.pid) - cpu0) / 1e6;
      if (statSync(down).size !== data.length) throw new Error(`config ${i}: the download is ${statSync(down).size} bytes, not ${data.length}`);
      rmSync(down);
      ratios[i]!.push(copySeconds / r.seconds);
      console.log(
        `round ${round} config ${i}: copy ${(MB / copySeconds).toFixed(0)} MiB/s, download ${(MB / r.seconds).toFixed(0)} MiB/s (${((copySeconds / r.seconds) * 100).toFixed(0)}%), server CPU ${serverCpu.toFixed(2)} s, client CPU ${r.cpu.toFixed(2)} s`,
      );
    }
  }
  for (const [i, config] of configs.entries()) {
    console.log(`config ${i} ${JSON.stringify(config)}: median ${(median(ratios[i]!) * 100).toFixed(0)}% of the copy (rounds ${ratios[i]!.map((x) => (x * 100).toFixed(0)).join(", ")})`);
  }
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
