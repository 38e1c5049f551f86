// Chooses the ArtifactStore of shared storage from objectStore.endpoint: a file:// URL names a
// directory every replica mounts; anything else is an S3-compatible server.
import { fileURLToPath } from "node:url";
import path from "node:path";
import { ConfigError } from "../config.js";
import type { ObjectStoreConfig } from "../platform/shared-storage.js";
import type { ArtifactStore } from "./artifact-store.js";
import { FsArtifactStore } from "./fs-artifact-store.js";

export async function openArtifactStore(config: ObjectStoreConfig): Promise<ArtifactStore> {
  if (config.endpoint.startsWith("file:")) {
    return FsArtifactStore.open(path.join(fileURLToPath(config.endpoint), config.bucket, config.prefix));
  }
  throw new ConfigError(`objectStore.endpoint '${config.endpoint}': this build stores artifacts only on a shared directory (a file:// endpoint)`);
}
