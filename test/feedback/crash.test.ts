// Crash safety: SIGKILL the server in the middle of ingestion; after a restart every
// acknowledged sample is either still buffered or trained into a registered version.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";
import { featureMap, makeRows } from "./synthetic.js";

const BATCH = 200;
const CLIENTS = 4;
let dataDir: string;
const servers: SpawnedServer[] = [];

afterAll(async () => {
  for (const s of servers) s.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.exited));
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("crash safety of the embedded learner", () => {
  it("keeps every acknowledged sample across a SIGKILL in the middle of ingestion", async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-fb-crash-"));
    const first = await spawnServer({ dataDir });
    servers.push(first);
    const client = createClient(FeedbackService, createGrpcTransport({ baseUrl: first.baseUrl }));
    await client.createOnlineModel({ name: "crash", task: Task.REGRESSION, updateThreshold: 1500 });

    const rows = makeRows("regression", BATCH, 5);
    const batch = rows.map((r) => ({ features: featureMap(r.x), outcome: { kind: { case: "value" as const, value: r.y } } }));
    let acknowledged = 0;
    let killed = false;
    const loops = Array.from({ length: CLIENTS }, async () => {
      while (!killed) {
        try {
          const res = await client.ingestSampleBatch({ model: "crash", samples: batch });
          acknowledged += Number(res.accepted); // an answer, even one arriving after the kill, is an acknowledgement
        } catch {
          return; // the connection died with the server: this batch was never acknowledged
        }
      }
    });
    // Kill once a few trainings have had the chance to run, with batches in flight.
    while (acknowledged < 6_000) await new Promise((r) => setTimeout(r, 5));
    first.kill("SIGKILL");
    killed = true;
    await Promise.all(loops);
    await first.exited;

    const second = await spawnServer({ dataDir });
    servers.push(second);
    const transport = createGrpcTransport({ baseUrl: second.baseUrl });
    const after = createClient(FeedbackService, transport);
    const registry = createClient(RegistryService, transport);
    const status = await after.getLearnerStatus({ model: "crash" });
    // Nothing acknowledged is lost; at most the batches in flight at the kill were also kept.
    expect(Number(status.samplesSeen)).toBeGreaterThanOrEqual(acknowledged);
    expect(Number(status.samplesSeen)).toBeLessThanOrEqual(acknowledged + CLIENTS * BATCH);

    // Trained samples are in registered versions whose lineage forms one chain.
    const versions = (await registry.listModelVersions({ name: "crash", pageSize: 1000 })).modelVersions.sort((a, b) => Number(a.version) - Number(b.version));
    expect(versions[0]!.version).toBe("1");
    const inVersions = versions.reduce((n, v) => n + Number(v.lineage!.samplesUsed), 0);
    const trained = Number(status.samplesSeen) - Number(status.bufferedSamples);
    expect(inVersions).toBeGreaterThanOrEqual(trained);
    expect(versions.length).toBeGreaterThan(1);
    const serving = versions.find((v) => v.version === status.currentVersion)!;
    expect(serving).toBeDefined();

    // The restarted learner trains what it replayed, and nothing is counted twice.
    const settled = await (async () => {
      for (;;) {
        const s = await after.getLearnerStatus({ model: "crash" });
        if (!s.training && s.bufferedSamples < 1500n) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    expect(settled.samplesSeen).toBe(status.samplesSeen);
  });
});
