// Chooses the ArtifactStore of shared storage from objectStore.endpoint: a file:// URL names a
// directory every replica mounts; anything else is an S3-compatible server.
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { ObjectStoreConfig } from "../platform/shared-storage.js";
import type { ArtifactStore } from "./artifact-store.js";
import { FsArtifactStore } from "./fs-artifact-store.js";
import type { ProbedObjectStore } from "./object-store-probe.js";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface OpenedArtifactStore {
  readonly artifacts: ArtifactStore;
  /** A store on the network, which health probes; absent for a mounted directory. */
  readonly remote?: ProbedObjectStore;
}

/** `directIo` (registry.directIo) applies to a mounted directory. */
export async function openArtifactStore(config: ObjectStoreConfig, options: { directIo: boolean } = { directIo: true }): Promise<OpenedArtifactStore> {
  if (config.endpoint.startsWith("file:")) {
    return { artifacts: await FsArtifactStore.open(path.join(fileURLToPath(config.endpoint), config.bucket, config.prefix), options) };
  }
  // Loaded only here: the AWS SDK is large, and no other configuration needs it.
  const { S3ArtifactStore } = await import("./s3-artifact-store.js");
  const store = new S3ArtifactStore(config);
  // Where the store has lifecycle rules, it expires orphaned temporaries itself (in whole days);
  // the periodic sweep (objectStore.orphanSweep) covers stores without them and shorter ages.
  await store.ensureLifecycleRule(config.orphanSweep.olderThanMs / DAY_MS);
  return { artifacts: store, remote: store };
}
