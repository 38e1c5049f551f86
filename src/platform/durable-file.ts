// Small files that must survive a crash whole: written with fsync, replaced by rename, and
// the directory fsynced so the rename itself is durable.
import { randomUUID } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";

/** Writes (creating or truncating) `file` and fsyncs it. */
export async function writeFileSynced(file: string, text: string, mode = 0o644): Promise<void> {
  const fh = await open(file, "w", mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Fsyncs a directory, making the creations, renames and deletions in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `file` atomically: readers and a crash see the old content or the new, never a mix. */
export async function replaceFileAtomic(file: string, text: string, options: { mode?: number } = {}): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomUUID()}.tmp`);
  try {
    await writeFileSynced(tmp, text, options.mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}
