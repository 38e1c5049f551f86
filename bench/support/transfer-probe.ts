// A probe for profiling transfers, run directly (not one of `npm run bench`'s sections): one
// server (storage: shared on PostgreSQL, Redis and SeaweedFS, or embedded), a grpc-js client, N
// transfers of one artifact, and the server's and SeaweedFS's CPU per MiB for each. Environment:
//   MODE=down|up|alt|embedded-up|embedded-down  down: one upload, then N downloads of it; up: N uploads;
//        alt: N × (upload, then download it at once), the bench's order; embedded-*: embedded storage
//   MB=128 N=3  artifact size and transfers; SLEEP=1500  ms of idle before each (not in alt)
//   WARM=k      k downloads of a small artifact first (JIT warm-up)
//   SERVER_ARGS="--cpu-prof --cpu-prof-dir=DIR" or "--trace-gc"  node flags of the server;
//   OUT=file    the server's output (the GC trace) is written there at the end
//
//   flock /tmp/openloop-bench.lock env MODE=alt SERVER_ARGS=--trace-gc OUT=/tmp/gc.txt node --import tsx bench/support/transfer-probe.ts
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { startPostgres } from "../../test/support/postgres.js";
import { startRedis } from "../../test/support/redis.js";
import { startSeaweedFs } from "../../test/support/seaweedfs.js";
import { spawnServer } from "../../test/support/spawn.js";
import { ROOT } from "../../test/support/tools.js";
import { cpuMicros } from "./proc.js";
import { grpcJsClient, grpcJsDownload, grpcJsRegister } from "./registry-grpc-js.js";
import { uploadRequests } from "../../test/registry/helpers.js";

const MiB = 1 << 20;
const SIZE = Number(process.env.MB ?? 128) * MiB;
const N = Number(process.env.N ?? 3);
const MODE = process.env.MODE ?? "down";
const data = randomBytes(SIZE);
const digest = createHash("sha256").update(data).digest("hex");
function* chunks() { for (let i = 0; i < SIZE; i += MiB - 16) yield data.subarray(i, Math.min(SIZE, i + MiB - 16)); }
const shared = MODE !== "embedded-down" && MODE !== "embedded-up";
const [pg, redis, weed] = await Promise.all([startPostgres(), startRedis(), startSeaweedFs()]);
const bucket = await weed.createBucket(`b-${randomUUID().slice(0, 8)}`);
const server = await spawnServer({
  config: shared ? { storage: "shared", postgres: { url: await pg.createDatabase("s") }, objectStore: { endpoint: weed.endpoint, bucket, region: weed.region, credentials: weed.credentials, prefix: "o/" }, redis: { url: redis.url } } : undefined,
  command: { args: [...(process.env.SERVER_ARGS ?? "").split(" ").filter(Boolean), "--import", "tsx", "src/main.ts"], cwd: ROOT },
});
const c = grpcJsClient(server.port);
const up = async (v: string) => grpcJsRegister(c, uploadRequests({ name: "m", version: v, type: "onnx" }, [{ name: "a", chunks: chunks(), sha256: digest }]));
try {
  if (process.env.WARM) {
    const small = randomBytes(8 * MiB);
    await grpcJsRegister(c, uploadRequests({ name: "w", version: "1", type: "onnx" }, [{ name: "a", chunks: [small], sha256: createHash("sha256").update(small).digest("hex") }]));
    for (let i = 0; i < Number(process.env.WARM); i++) await grpcJsDownload(c, "w", "1", () => {});
  }
  if (MODE.endsWith("down") || MODE === "alt") await up("1");
  for (let i = 0; i < N; i++) {
    if (MODE === "alt") {
      const u0 = cpuMicros(server.pid), ut = performance.now();
      await up(String(i + 100));
      console.log(`  up ${(SIZE / MiB / ((performance.now() - ut) / 1000)).toFixed(0)} MiB/s server ${((cpuMicros(server.pid) - u0) / 1000 / (SIZE / MiB)).toFixed(2)} ms/MiB`);
    }
    else await new Promise((r) => setTimeout(r, Number(process.env.SLEEP ?? 1500)));
    const s0 = cpuMicros(server.pid), w0 = cpuMicros(weed.pid!);
    const t = performance.now();
    if (MODE.endsWith("down") || MODE === "alt") {
      const h = createHash("sha256");
      await grpcJsDownload(c, "m", MODE === "alt" ? String(i + 100) : "1", (d) => h.update(d));
      if (h.digest("hex") !== digest) throw new Error("digest");
    } else {
      await up(String(i + 10));
    }
    const s = (performance.now() - t) / 1000;
    console.log(`${MODE} ${(SIZE / MiB / s).toFixed(0)} MiB/s server ${((cpuMicros(server.pid) - s0) / 1000 / (SIZE / MiB)).toFixed(2)} ms/MiB weed ${((cpuMicros(weed.pid!) - w0) / 1000 / (SIZE / MiB)).toFixed(2)} ms/MiB`);
  }
} finally {
  c.close();
  await server.stop();
  if (process.env.OUT) writeFileSync(process.env.OUT, server.output());
  await weed.teardown(); await redis.stop(); await pg.teardown();
}
