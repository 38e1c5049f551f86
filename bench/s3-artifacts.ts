// Artifact transfer through openloop's shared backend vs the same S3 SDK straight to the same S3:
// one artifact (256 MiB by default) uploaded with RegisterModelVersion and downloaded with
// DownloadArtifact (gRPC over HTTP/2 to a server in a child process with storage: shared on a
// private PostgreSQL, Redis and SeaweedFS), against @aws-sdk/lib-storage's Upload (same part size
// and queue as the store) and a streamed GetObject from the bench process, in alternating rounds.
// Both sides hash what they send and receive. Prints one markdown section.
//
//   flock /tmp/openloop-bench.lock node --import tsx bench/s3-artifacts.ts [--mb 256] [--rounds 3] [--only up|down] [--profile DIR]
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/openloop/registry/v1/registry_service_pb.js";
import { uploadRequests } from "../test/registry/helpers.js";
import { startPostgres } from "../test/support/postgres.js";
import { startRedis } from "../test/support/redis.js";
import { startSeaweedFs } from "../test/support/seaweedfs.js";
import { spawnServer } from "../test/support/spawn.js";
import { ROOT } from "../test/support/tools.js";
import { cpuMicros, median } from "./support/proc.js";
import { grpcJsClient, grpcJsDownload, grpcJsRegister } from "./support/registry-grpc-js.js";
import { pythonGrpcInstalled, pythonGrpcTransfer } from "./support/registry-python.js";

const MiB = 1024 * 1024;
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SIZE_MB = flag("--mb", 256);
const ROUNDS = flag("--rounds", 3);
// --only up|down: run one direction and print only the CPU rows (for profiling runs).
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
// --profile DIR: the shared-storage server runs under --cpu-prof, writing its profile to DIR at exit.
const PROFILE = process.argv.includes("--profile") ? process.argv[process.argv.indexOf("--profile") + 1] : undefined;
const loadStart = os.loadavg()[0]!;
const SIZE = SIZE_MB * MiB;
const CHUNK = MiB - 16;
const TARGET = 0.7;

const data = randomBytes(SIZE);
const digest = createHash("sha256").update(data).digest("hex");
// The Python client uploads from a file.
const work = await mkdtemp(path.join(os.tmpdir(), "openloop-bench-s3-"));
const source = path.join(work, "source.bin");
await writeFile(source, data);
function* chunks(): Generator<Uint8Array> {
  for (let i = 0; i < SIZE; i += CHUNK) yield data.subarray(i, Math.min(SIZE, i + CHUNK));
}

const [pg, redis, weed] = await Promise.all([startPostgres(), startRedis(), startSeaweedFs()]);
const bucket = await weed.createBucket(`bench-${randomUUID().slice(0, 8)}`);
const server = await spawnServer({
  config: {
    storage: "shared",
    postgres: { url: await pg.createDatabase("s3bench") },
    objectStore: { endpoint: weed.endpoint, bucket, region: weed.region, credentials: weed.credentials, prefix: "openloop/" },
    redis: { url: redis.url },
    log: { level: "info" },
  },
  env: { OPENLOOP_LOG_LEVEL: "info" },
  ...(PROFILE ? { command: { args: ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`, "--import", "tsx", "src/main.ts"], cwd: ROOT } } : {}),
});
const sessions = new Http2SessionManager(server.baseUrl);
const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions }));
const jsRegistry = grpcJsClient(server.port);
// The same RPCs on embedded storage (files), to tell the RPC path's cost from the object store's.
const embedded = await spawnServer({});
const embeddedJs = grpcJsClient(embedded.port);
const s3 = new S3Client({ endpoint: weed.endpoint, region: weed.region, credentials: { ...weed.credentials }, forcePathStyle: true, maxAttempts: 2 });

async function openloopUp(version: string): Promise<void> {
  await registry.registerModelVersion(uploadRequests({ name: "bench", version, type: "onnx" }, [{ name: "model.bin", chunks: chunks(), sha256: digest }]));
}

async function openloopDown(version: string): Promise<void> {
  const hash = createHash("sha256");
  for await (const res of registry.downloadArtifact({ name: "bench", selector: { case: "version", value: version } })) {
    if (res.part.case === "data") hash.update(res.part.value);
  }
  if (hash.digest("hex") !== digest) throw new Error("openloop download: digest differs");
}

async function grpcJsUp(client: grpc.Client, version: string): Promise<void> {
  const requests = uploadRequests({ name: "bench-js", version, type: "onnx" }, [{ name: "model.bin", chunks: chunks(), sha256: digest }]);
  await grpcJsRegister(client, requests);
}

async function grpcJsDown(client: grpc.Client, version: string): Promise<void> {
  const hash = createHash("sha256");
  await grpcJsDownload(client, "bench-js", version, (d) => hash.update(d));
  if (hash.digest("hex") !== digest) throw new Error("grpc-js download: digest differs");
}

async function sdkUp(key: string): Promise<void> {
  const hash = createHash("sha256");
  const body = (function* () {
    for (const c of chunks()) {
      hash.update(c);
      yield c;
    }
  })();
  // The store's settings (src/registry/s3-artifact-store.ts): 8 MiB parts, 2 in flight.
  await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: Readable.from(body, { objectMode: false }) }, partSize: 8 * MiB, queueSize: 2 }).done();
  if (hash.digest("hex") !== digest) throw new Error("sdk upload: digest differs");
}

async function sdkDown(key: string): Promise<void> {
  const hash = createHash("sha256");
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  for await (const piece of res.Body as Readable) hash.update(piece as Buffer);
  if (hash.digest("hex") !== digest) throw new Error("sdk download: digest differs");
}

type Path =
  | "sdk up"
  | "openloop up"
  | "openloop js up"
  | "openloop py up"
  | "embedded js up"
  | "sdk down"
  | "openloop down"
  | "openloop js down"
  | "openloop py down"
  | "embedded js down";
interface Sample {
  readonly seconds: number;
  /** CPU seconds of the openloop server that served it (0 for the direct SDK). */
  readonly serverCpu: number;
  /** CPU seconds of SeaweedFS. */
  readonly storeCpu: number;
  /** CPU seconds of this process (the client). */
  readonly clientCpu: number;
}
const samples = new Map<Path, Sample[]>();
const own = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
async function measure(p: Path, serverPid: number | undefined, fn: () => Promise<void>): Promise<void> {
  // Skipped directions still run (a download needs its upload) but are not recorded.
  if (ONLY && !p.endsWith(ONLY)) return void (await fn());
  const cpu = () => ({ server: serverPid ? cpuMicros(serverPid) / 1e6 : 0, store: cpuMicros(weed.pid!) / 1e6, client: own() });
  const c0 = cpu();
  const t = performance.now();
  await fn();
  const seconds = (performance.now() - t) / 1000;
  const c1 = cpu();
  samples.set(p, [...(samples.get(p) ?? []), { seconds, serverCpu: c1.server - c0.server, storeCpu: c1.store - c0.store, clientCpu: c1.client - c0.client }]);
}

/** A transfer from the Python grpcio client, timed by the client, CPU read from its start mark. */
async function measurePython(p: Path, mode: "upload" | "download", version: string): Promise<void> {
  if (!pythonGrpcInstalled()) return;
  let c0 = { server: 0, store: 0 };
  const r = await pythonGrpcTransfer({ mode, port: server.port, name: "bench-py", version, file: mode === "upload" ? source : "-", uploadChunk: CHUNK }, () => {
    c0 = { server: cpuMicros(server.pid) / 1e6, store: cpuMicros(weed.pid!) / 1e6 };
  });
  if (r.path !== digest) throw new Error(`Python ${mode}: digest differs`);
  if (ONLY && !p.endsWith(ONLY)) return;
  const sample = { seconds: r.seconds, serverCpu: cpuMicros(server.pid) / 1e6 - c0.server, storeCpu: cpuMicros(weed.pid!) / 1e6 - c0.store, clientCpu: r.cpu };
  samples.set(p, [...(samples.get(p) ?? []), sample]);
}

/** Runs every path once on a small artifact, so the first measured round does not pay for JIT compilation and first use. */
async function warmUp(): Promise<void> {
  const small = randomBytes(8 * MiB);
  const sha256 = createHash("sha256").update(small).digest("hex");
  const header = { name: "warm-up", version: "1", type: "onnx" };
  await registry.registerModelVersion(uploadRequests(header, [{ name: "w.bin", chunks: [small], sha256 }]));
  await grpcJsRegister(embeddedJs, uploadRequests(header, [{ name: "w.bin", chunks: [small], sha256 }]));
  await new Upload({ client: s3, params: { Bucket: bucket, Key: "direct/warm-up", Body: small }, partSize: 8 * MiB, queueSize: 2 }).done();
  for (let i = 0; i < 3; i++) {
    for await (const _ of registry.downloadArtifact({ name: "warm-up" })) {
      // drain
    }
    await grpcJsDownload(jsRegistry, "warm-up", "1", () => {});
    await grpcJsDownload(embeddedJs, "warm-up", "1", () => {});
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "direct/warm-up" }));
    for await (const _ of res.Body as Readable) {
      // drain
    }
  }
}

try {
  await warmUp();
  for (let round = 1; round <= ROUNDS; round++) {
    const key = `direct/round-${round}`;
    const v = String(round);
    // Uploads first (each download reads what its upload wrote), alternating direct and openloop.
    await measure("sdk up", undefined, () => sdkUp(key));
    await measure("openloop up", server.pid, () => openloopUp(v));
    await measure("openloop js up", server.pid, () => grpcJsUp(jsRegistry, v));
    await measurePython("openloop py up", "upload", v);
    await measure("embedded js up", embedded.pid, () => grpcJsUp(embeddedJs, v));
    await measure("sdk down", undefined, () => sdkDown(key));
    await measure("openloop down", server.pid, () => openloopDown(v));
    await measure("openloop js down", server.pid, () => grpcJsDown(jsRegistry, v));
    await measurePython("openloop py down", "download", v);
    await measure("embedded js down", embedded.pid, () => grpcJsDown(embeddedJs, v));
    process.stderr.write(`round ${round}: ${[...samples].map(([k, v]) => `${k} ${v.at(-1)!.seconds.toFixed(2)} s`).join(", ")}\n`);
  }
} finally {
  sessions.abort();
  jsRegistry.close();
  embeddedJs.close();
  await Promise.all([server.stop(), embedded.stop()]);
  s3.destroy();
  await weed.teardown();
  await redis.stop();
  await pg.teardown();
  await rm(work, { recursive: true, force: true });
}
const loadEnd = os.loadavg()[0]!;

const mbps = (s: number) => SIZE / MiB / s;
const get = (p: Path) => samples.get(p) ?? [];
const rate = (p: Path) => mbps(median(get(p).map((x) => x.seconds)));
const rates = (p: Path) => get(p).map((x) => mbps(x.seconds).toFixed(0)).join(", ");
const perMiB = (p: Path, side: "serverCpu" | "storeCpu" | "clientCpu") => ((median(get(p).map((x) => x[side])) * 1000) / SIZE_MB).toFixed(2);
// The figure the target judges: the faster of the two clients (a client bound by its own CPU
// measures the client, not the server).
const fastest = (...paths: Path[]): Path => paths.filter((p) => get(p).length > 0).sort((a, b) => rate(b) - rate(a))[0]!;
const row = (what: string, ours: Path, direct: Path) => {
  const ratio = rate(ours) / rate(direct);
  return `| ${what} | ${rate(ours).toFixed(0)} MiB/s (${rates(ours)}) | ${rate(direct).toFixed(0)} MiB/s (${rates(direct)}) | ${(ratio * 100).toFixed(0)}% | ≥ ${TARGET * 100}% ${ratio >= TARGET ? "met" : "missed"} |`;
};
const cpuRow = (what: string, p: Path) => `| ${what} | ${rates(p)} | ${p.startsWith("sdk") ? "" : perMiB(p, "serverCpu")} | ${p.startsWith("embedded") ? "" : perMiB(p, "storeCpu")} | ${perMiB(p, "clientCpu")} |`;
if (ONLY) {
  for (const [p] of samples) console.log(cpuRow(p, p));
  process.exit(0);
}
const up = fastest("openloop up", "openloop js up", "openloop py up");
const down = fastest("openloop down", "openloop js down", "openloop py down");
const clientOf = (p: Path) => (p.includes(" py ") ? "Python grpcio" : p.includes(" js ") ? "grpc-js" : "connect-node");
console.log(`## Registry on shared storage: artifact transfer through S3 (SeaweedFS)

\`\`\`sh
flock /tmp/openloop-bench.lock node --import tsx bench/s3-artifacts.ts --mb ${SIZE_MB} --rounds ${ROUNDS}
\`\`\`

${SIZE_MB} MiB of random bytes, ${ROUNDS} rounds, alternating within each round, medians (each round's figure in brackets). openloop: RegisterModelVersion / DownloadArtifact from connect-node's gRPC client and from @grpc/grpc-js's (8 MiB receive window) in the bench process and from Python's grpcio in a subprocess (timed by itself; it hashes what it receives), to the server in a child process (storage: shared; PostgreSQL, Redis and SeaweedFS \`weed mini\` on loopback), which streams the artifact through S3ArtifactStore (its own multipart upload to the final key, completed after the digest check; a streamed GetObject re-chunked into 1 MiB messages). Direct: the same SDK from the bench process, lib-storage Upload with the same 8 MiB parts and 2 in flight, and a streamed GetObject. Both sides hash the bytes. Every path runs once on a small artifact before the first round. The target is judged on the faster client in each direction (${clientOf(up)} up, ${clientOf(down)} down).

| transfer | through openloop | same SDK straight to S3 | openloop / direct | target |
|---|---|---|---|---|
${row("upload", up, "sdk up")}
${row("download", down, "sdk down")}

CPU per MiB (medians, ms): the openloop server, SeaweedFS, and the bench process (the client: the SDK itself for the direct paths). The same RPCs on embedded storage (files, fsync) from the grpc-js client, to tell the RPC path's cost from the object store's.

| path | MiB/s (rounds) | openloop server | SeaweedFS | client |
|---|---|---:|---:|---:|
${cpuRow("upload, SDK direct", "sdk up")}
${cpuRow("upload, openloop, connect-node client", "openloop up")}
${cpuRow("upload, openloop, grpc-js client", "openloop js up")}
${get("openloop py up").length ? cpuRow("upload, openloop, Python grpcio client", "openloop py up") + "\n" : ""}${cpuRow("upload, openloop embedded (files), grpc-js client", "embedded js up")}
${cpuRow("download, SDK direct", "sdk down")}
${cpuRow("download, openloop, connect-node client", "openloop down")}
${cpuRow("download, openloop, grpc-js client", "openloop js down")}
${get("openloop py down").length ? cpuRow("download, openloop, Python grpcio client", "openloop py down") + "\n" : ""}${cpuRow("download, openloop embedded (files), grpc-js client", "embedded js down")}

Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}; shared with other work (1-minute load average ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end): SeaweedFS, the server and the client share the cores, so the rates are noisy and the CPU per MiB is the steadier figure.
`);
