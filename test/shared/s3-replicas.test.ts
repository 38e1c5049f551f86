// Three openloop processes on one PostgreSQL, one real S3 server (SeaweedFS, signed requests)
// and one Redis: artifacts registered through one replica download through the others, and while
// S3 is down transfers answer UNAVAILABLE fast while everything else keeps serving.
import { randomBytes, randomUUID } from "node:crypto";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { codeOf, download, registerSmall, registryClient, sha256, upload, type RegistryClient } from "../registry/helpers.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { startSeaweedFs, type SeaweedFs } from "../support/seaweedfs.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

interface Replica {
  server: SpawnedServer;
  sessions: Http2SessionManager;
  registry: RegistryClient;
  health: Client<typeof Health>;
}

let backend: SharedBackend;
let weed: SeaweedFs;
let bucket: string;
let replicas: Replica[] = [];
const [A, B, C] = [0, 1, 2].map((i) => () => replicas[i]!);

beforeAll(async () => {
  [backend, weed] = await Promise.all([startSharedBackend(), startSeaweedFs()]);
  bucket = await weed.createBucket(`replicas-${randomUUID().slice(0, 8)}`);
  const config = {
    ...(await backend.config("s3_replicas")),
    objectStore: { endpoint: weed.endpoint, bucket, region: weed.region, credentials: weed.credentials, prefix: "openloop/" },
  };
  const servers = await Promise.all([0, 1, 2].map(() => spawnServer({ config })));
  replicas = servers.map((server) => {
    const sessions = new Http2SessionManager(server.baseUrl);
    const transport = createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions });
    return { server, sessions, registry: registryClient(transport), health: createClient(Health, transport) };
  });
}, 180_000);

afterAll(async () => {
  for (const r of replicas) r.sessions.abort();
  await Promise.all(replicas.map((r) => r.server.stop()));
  await weed?.teardown();
  await backend?.teardown();
});

describe("three replicas on PostgreSQL, SeaweedFS and Redis", () => {
  it("registers through one replica and downloads the same bytes through the others; only final objects remain", async () => {
    const body = randomBytes(12 * 1024 * 1024 + 5); // more than one multipart part
    const mv = await upload(A().registry, { name: "s3-model", version: "1", type: "onnx" }, [{ name: "model.onnx", chunks: [body.subarray(0, 7_000_000), body.subarray(7_000_000)] }]);
    expect(mv.version).toBe("1");
    for (const r of [B(), C()]) {
      expect(await download(r.registry, { name: "s3-model" })).toMatchObject({ version: "1", bytes: body.length, sha256: sha256(body) });
    }
    const keys = ((await weed.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "openloop/" }))).Contents ?? []).map((o) => o.Key!);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^openloop\/objects\/s3-model\/[^/]+\/model\.onnx$/);
  });

  it("answers transfers UNAVAILABLE fast while S3 is down, keeps the other calls serving, and recovers", async () => {
    await registerSmall(A().registry, "s3-outage", "1");
    await weed.stop();
    try {
      const started = performance.now();
      const up = await codeOf(registerSmall(B().registry, "s3-outage", "2"));
      const down = await codeOf(download(C().registry, { name: "s3-outage" }, true));
      expect([up.code, down.code]).toEqual([Code.Unavailable, Code.Unavailable]);
      expect(up.message).toContain("artifact store");
      expect(performance.now() - started).toBeLessThan(20_000); // seconds, not a hang (generous for a busy machine)
      // Metadata still answers, and the server is healthy.
      expect((await A().registry.getModelVersion({ name: "s3-outage" })).modelVersion!.version).toBe("1");
      expect((await B().health.check({ service: "" })).status).toBe(Status.SERVING);
    } finally {
      await weed.start();
    }
    await expect.poll(() => registerSmall(B().registry, "s3-outage", "2").then((m) => m.version, () => "unavailable"), { timeout: 20_000, interval: 200 }).toBe("2");
    expect((await download(C().registry, { name: "s3-outage", selector: { case: "version", value: "2" } }, true)).data!.toString()).toBe("s3-outage@2");
  });
});
