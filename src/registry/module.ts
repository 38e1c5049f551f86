// Builds the registry service from its config and dependencies.
import path from "node:path";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import type { Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { bind } from "../platform/rpc/binding.js";
import { traceStore } from "../platform/tracing/index.js";
import { FsRegistryStorage } from "./fs-storage.js";
import { Registry } from "./registry.js";
import { createRegistryService } from "./service.js";

export async function createRegistryModule(config: Config, ctx: PlatformContext): Promise<ServiceModule> {
  const settings = config.registry;
  const root = settings.dir ?? path.join(config.dataDir, "registry");
  const log = ctx.log.child({ service: "registry" });
  const opened = await FsRegistryStorage.open({
    root,
    maxArtifactBytes: settings.maxArtifactBytes,
    maxConcurrentUploads: settings.maxConcurrentUploads,
    verifyOnRead: settings.verifyOnDownload,
    log,
  });
  const storage = traceStore(opened, "registry.storage", { "db.system.name": "filesystem" });
  const impl = createRegistryService(new Registry(storage, { uploadIdleTimeoutMs: settings.uploadIdleTimeoutMs }), { downloadChunkBytes: settings.downloadChunkBytes, log, metrics: ctx.metrics });
  log.info({ root: path.resolve(root) }, "registry: storage opened");
  return {
    // Model weights barely compress, and gzip at a few tens of MB/s would cap downloads.
    services: [bind(RegistryService, impl, { compressResponses: false })],
    close: () => storage.close(),
  };
}
