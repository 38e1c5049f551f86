// Builds the registry service from its config and dependencies.
import path from "node:path";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import type { Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { bind } from "../platform/rpc/binding.js";
import type { SharedMetadata } from "../platform/postgres/shared-metadata.js";
import { traceStore } from "../platform/tracing/index.js";
import { FsRegistryStorage } from "./fs-storage.js";
import { artifactHttpRoute } from "./http-artifacts.js";
import { ObjectStoreProbe } from "./object-store-probe.js";
import { openArtifactStore } from "./open-artifact-store.js";
import { OrphanSweeper } from "./orphan-sweeper.js";
import { PgRegistryStorage } from "./pg-storage.js";
import type { RegistryStorage } from "./storage.js";
import { Registry } from "./registry.js";
import { createRegistryService } from "./service.js";

// A HeadBucket this often: cheap, and an outage shows within a few seconds.
const OBJECT_STORE_PROBE_MS = 3000;
const OBJECT_STORE_PROBE_TIMEOUT_MS = 2000;

/** With shared metadata (storage: shared), versions live in PostgreSQL and artifacts in objectStore. */
export async function createRegistryModule(config: Config, ctx: PlatformContext, shared?: SharedMetadata): Promise<ServiceModule> {
  const settings = config.registry;
  const root = settings.dir ?? path.join(config.dataDir, "registry");
  const log = ctx.log.child({ service: "registry" });
  const limits = { maxArtifactBytes: settings.maxArtifactBytes, maxConcurrentUploads: settings.maxConcurrentUploads, verifyOnRead: settings.verifyOnDownload, directIo: settings.directIo, log };
  let storage: RegistryStorage;
  let closeArtifacts = async () => {};
  let probe: ObjectStoreProbe | undefined;
  if (shared && config.objectStore) {
    const { artifacts, remote } = await openArtifactStore(config.objectStore, { directIo: settings.directIo });
    if (remote) {
      probe = new ObjectStoreProbe(remote, { intervalMs: OBJECT_STORE_PROBE_MS, timeoutMs: OBJECT_STORE_PROBE_TIMEOUT_MS });
      await probe.check();
    }
    const sweep = config.objectStore.orphanSweep;
    const sweeper = new OrphanSweeper(shared.db, artifacts, sweep, log);
    if (sweep.intervalMs > 0) sweeper.start();
    closeArtifacts = async () => {
      probe?.close();
      sweeper.stop();
      await artifacts.close();
    };
    storage = traceStore(new PgRegistryStorage(shared.db, shared.changes, artifacts, { ...limits, cacheTtlMs: shared.cacheTtlMs }), "registry.storage", { "db.system.name": "postgresql" });
    log.info({ objectStore: config.objectStore.endpoint, bucket: config.objectStore.bucket }, "registry: shared storage (PostgreSQL + object store)");
  } else {
    storage = traceStore(await FsRegistryStorage.open({ root, ...limits }), "registry.storage", { "db.system.name": "filesystem" });
    log.info({ root: path.resolve(root) }, "registry: storage opened");
  }
  const impl = createRegistryService(new Registry(storage, { uploadIdleTimeoutMs: settings.uploadIdleTimeoutMs }), { downloadChunkBytes: settings.downloadChunkBytes, log, metrics: ctx.metrics });
  // Model weights barely compress, and gzip at a few tens of MB/s would cap downloads; download
  // chunks give their buffers back once sent (service.ts).
  const binding = bind(RegistryService, impl, { compressResponses: false, sentNotices: ["downloadArtifact"] });
  return {
    services: [binding],
    httpRoutes: [artifactHttpRoute(binding)],
    // Reported as "<RegistryService>/objectstore" only: without it transfers answer UNAVAILABLE, the rest serves.
    dependencies: probe ? [{ service: RegistryService.typeName, probe, component: "objectstore", reportOnly: true }] : [],
    async close() {
      await storage.close();
      await closeArtifacts();
    },
  };
}
