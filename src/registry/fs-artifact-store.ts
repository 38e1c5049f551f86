// An ArtifactStore on a directory that every replica mounts (a network filesystem, or one host's
// disk for tests): the same contract as object storage, without an S3 server.
//
// Layout: tmp/<uuid> for writes in progress; objects/<model>/<version>/<artifact> once complete.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { ArtifactFileWriter, countAndHashChunks, readChunks } from "./artifact-io.js";
import { createArtifactFile, openArtifactFile } from "./direct-io.js";
import { ArtifactStoreError, type ArtifactKey, type ArtifactStore, type ArtifactWrite } from "./artifact-store.js";
import type { ReadChunk } from "./storage.js";

// Bytes that may wait for the disk per write before the client waits (as in fs-storage.ts).
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;

export class FsArtifactStore implements ArtifactStore {
  private constructor(
    private readonly root: string,
    private readonly direct: boolean,
  ) {}

  /** `directIo`: artifact files with O_DIRECT where the filesystem allows it (registry.directIo). */
  static async open(root: string, options: { directIo?: boolean } = {}): Promise<FsArtifactStore> {
    const store = new FsArtifactStore(path.resolve(root), options.directIo !== false);
    await mkdir(path.join(store.root, "tmp"), { recursive: true });
    await mkdir(path.join(store.root, "objects"), { recursive: true });
    return store;
  }

  private objectPath(key: ArtifactKey): string {
    return path.join(this.root, "objects", key.model, key.version, key.artifact);
  }

  async beginWrite(key: ArtifactKey): Promise<ArtifactWrite> {
    const tmp = path.join(this.root, "tmp", randomUUID());
    const { fh, direct } = await createArtifactFile(tmp, { direct: this.direct });
    const writer = new ArtifactFileWriter(fh, WRITE_BEHIND_BYTES, direct);
    const final = this.objectPath(key);
    let state: "open" | "done" = "open";
    const dropTemp = async () => {
      if (state === "done") return;
      state = "done";
      await writer.abandon();
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    };
    return {
      write: (chunk) => writer.write(chunk),
      async complete(expectedSha256) {
        let written: { sizeBytes: number; sha256: string };
        try {
          written = await writer.finish();
        } catch (err) {
          await dropTemp();
          throw err;
        }
        if (expectedSha256 !== undefined && expectedSha256 !== written.sha256) {
          await dropTemp();
          throw new ArtifactStoreError("data_loss", `the ${written.sizeBytes} bytes received have SHA-256 ${written.sha256}, the client said ${expectedSha256}`);
        }
        state = "done";
        await fh.close();
        await mkdir(path.dirname(final), { recursive: true });
        await rename(tmp, final);
        return written;
      },
      abort: dropTemp,
    };
  }

  async *read(key: ArtifactKey, options: { chunkBytes: number; headroom?: number; signal?: AbortSignal; expectedSha256?: string }): AsyncGenerator<ReadChunk> {
    let fh: FileHandle;
    let direct: boolean;
    try {
      ({ fh, direct } = await openArtifactFile(this.objectPath(key), { direct: this.direct }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ArtifactStoreError("not_found", `artifact '${key.artifact}' of ${key.model}@${key.version} is not in the artifact store`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      const read = yield* countAndHashChunks(readChunks(fh, size, { ...options, direct }), { hash: options.expectedSha256 !== undefined, sizeBytes: size });
      if (read.sha256 !== undefined && read.sha256 !== options.expectedSha256) {
        throw new ArtifactStoreError("data_loss", `artifact '${key.artifact}' of ${key.model}@${key.version} no longer matches its registered SHA-256; the stored object is corrupt`);
      }
    } finally {
      await fh.close();
    }
  }

  async deleteVersion(model: string, version: string): Promise<void> {
    await rm(path.join(this.root, "objects", model, version), { recursive: true, force: true });
  }

  async sweepOrphans(olderThanMs: number): Promise<number> {
    const dir = path.join(this.root, "tmp");
    let removed = 0;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const st = await stat(path.join(dir, name)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > olderThanMs) {
        await rm(path.join(dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {}
}
