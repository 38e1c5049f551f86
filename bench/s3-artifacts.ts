// Artifact transfer through openloop's shared backend vs the same S3 SDK straight to the same S3:
// one artifact (256 MiB by default) uploaded with RegisterModelVersion and downloaded with
// DownloadArtifact (gRPC over HTTP/2 to a server in a child process with storage: shared on a
// private PostgreSQL, Redis and SeaweedFS), against @aws-sdk/lib-storage's Upload (same part size
// and queue as the store) and a streamed GetObject from the bench process, in alternating rounds.
// Both sides hash what they send and receive. Prints one markdown section.
//
//   flock /tmp/openloop-bench.lock node --import tsx bench/s3-artifacts.ts [--mb 256] [--rounds 3]
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/openloop/registry/v1/registry_service_pb.js";
import { uploadRequests } from "../test/registry/helpers.js";
import { startPostgres } from "../test/support/postgres.js";
import { startRedis } from "../test/support/redis.js";
import { startSeaweedFs } from "../test/support/seaweedfs.js";
import { spawnServer } from "../test/support/spawn.js";
import { median } from "./support/proc.js";

const MiB = 1024 * 1024;
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SIZE_MB = flag("--mb", 256);
const ROUNDS = flag("--rounds", 3);
const SIZE = SIZE_MB * MiB;
const CHUNK = MiB - 16;
const TARGET = 0.7;

const data = randomBytes(SIZE);
const digest = createHash("sha256").update(data).digest("hex");
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
});
const sessions = new Http2SessionManager(server.baseUrl);
const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions }));
// The same RPCs on embedded storage (files), to tell the RPC path's cost from the object store's.
const embedded = await spawnServer({});
const embeddedSessions = new Http2SessionManager(embedded.baseUrl);
const embeddedRegistry = createClient(RegistryService, createGrpcTransport({ baseUrl: embedded.baseUrl, sessionManager: embeddedSessions }));
const s3 = new S3Client({ endpoint: weed.endpoint, region: weed.region, credentials: { ...weed.credentials }, forcePathStyle: true, maxAttempts: 2 });

async function openloopUp(version: string, client = registry): Promise<number> {
  const t = performance.now();
  await client.registerModelVersion(uploadRequests({ name: "bench", version, type: "onnx" }, [{ name: "model.bin", chunks: chunks(), sha256: digest }]));
  return (performance.now() - t) / 1000;
}

async function openloopDown(version: string, client = registry): Promise<number> {
  const t = performance.now();
  const hash = createHash("sha256");
  for await (const res of client.downloadArtifact({ name: "bench", selector: { case: "version", value: version } })) {
    if (res.part.case === "data") hash.update(res.part.value);
  }
  if (hash.digest("hex") !== digest) throw new Error("openloop download: digest differs");
  return (performance.now() - t) / 1000;
}

async function sdkUp(key: string): Promise<number> {
  const t = performance.now();
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
  return (performance.now() - t) / 1000;
}

async function sdkDown(key: string): Promise<number> {
  const t = performance.now();
  const hash = createHash("sha256");
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  for await (const piece of res.Body as Readable) hash.update(piece as Buffer);
  if (hash.digest("hex") !== digest) throw new Error("sdk download: digest differs");
  return (performance.now() - t) / 1000;
}

const times: Record<"openloop up" | "openloop down" | "sdk up" | "sdk down" | "embedded up" | "embedded down", number[]> = {
  "openloop up": [],
  "openloop down": [],
  "sdk up": [],
  "sdk down": [],
  "embedded up": [],
  "embedded down": [],
};
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const key = `direct/round-${round}`;
    times["sdk up"].push(await sdkUp(key));
    times["openloop up"].push(await openloopUp(String(round)));
    times["sdk down"].push(await sdkDown(key));
    times["openloop down"].push(await openloopDown(String(round)));
    times["embedded up"].push(await openloopUp(String(round), embeddedRegistry));
    times["embedded down"].push(await openloopDown(String(round), embeddedRegistry));
    process.stderr.write(`round ${round}: ${Object.entries(times).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(2)} s`).join(", ")}\n`);
  }
} finally {
  sessions.abort();
  embeddedSessions.abort();
  await Promise.all([server.stop(), embedded.stop()]);
  s3.destroy();
  await weed.teardown();
  await redis.stop();
  await pg.teardown();
}

const mbps = (s: number) => SIZE / MiB / s;
const row = (what: string, ours: number[], direct: number[]) => {
  const ratio = median(direct) / median(ours);
  return `| ${what} | ${mbps(median(ours)).toFixed(0)} MiB/s (${ours.map((s) => mbps(s).toFixed(0)).join(", ")}) | ${mbps(median(direct)).toFixed(0)} MiB/s (${direct.map((s) => mbps(s).toFixed(0)).join(", ")}) | ${(ratio * 100).toFixed(0)}% | ≥ ${TARGET * 100}% ${ratio >= TARGET ? "met" : "missed"} |`;
};
console.log(`## Registry on shared storage: artifact transfer through S3 (SeaweedFS)

\`\`\`sh
flock /tmp/openloop-bench.lock node --import tsx bench/s3-artifacts.ts --mb ${SIZE_MB} --rounds ${ROUNDS}
\`\`\`

${SIZE_MB} MiB of random bytes, ${ROUNDS} rounds, medians (each round's figure in brackets). openloop: RegisterModelVersion / DownloadArtifact from connect-node's gRPC client to the server in a child process (storage: shared; PostgreSQL, Redis and SeaweedFS \`weed mini\` on loopback), which streams the artifact through S3ArtifactStore (its own multipart upload to the final key, completed after the digest check; a streamed GetObject read two chunks ahead). Direct: the same SDK from the bench process, lib-storage Upload with the same 8 MiB parts and 2 in flight, and a streamed GetObject. Both sides hash the bytes.

| transfer | through openloop | same SDK straight to S3 | openloop / direct | target |
|---|---|---|---|---|
${row("upload", times["openloop up"], times["sdk up"])}
${row("download", times["openloop down"], times["sdk down"])}

The same RPCs on embedded storage (files, fsync), same client, same rounds: upload ${mbps(median(times["embedded up"])).toFixed(0)} MiB/s (${times["embedded up"].map((s) => mbps(s).toFixed(0)).join(", ")}), download ${mbps(median(times["embedded down"])).toFixed(0)} MiB/s (${times["embedded down"].map((s) => mbps(s).toFixed(0)).join(", ")}).
`);
