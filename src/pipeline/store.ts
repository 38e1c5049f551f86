// Durable storage of pipeline revisions behind PipelineStore, which both backends implement:
// PipelineFileStore (embedded: one JSON file per revision under <dataDir>/pipelines/<name>/,
// written atomically, so a crash leaves either the old state or the new) and PgPipelineStore
// (shared: src/pipeline/pg-store.ts).
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { pipelineNameProblem } from "./definition.js";
import type { PipelineRevision, PipelineSpec } from "./types.js";
import { replaceFileAtomic } from "../platform/durable-file.js";

const REVISION_FILE = /^([1-9][0-9]{0,9})\.json$/;

export interface PipelineStore {
  /** Every stored revision, by pipeline name, in revision order. */
  loadAll(): Promise<Map<string, PipelineRevision[]>>;
  /** One pipeline's kept revisions in order; empty when it does not exist. */
  load(name: string): Promise<PipelineRevision[]>;
  /**
   * Stores `rev` as the pipeline's next revision and drops revisions older than the newest `keep`.
   * Stores nothing and answers "taken" when revision `rev.revision` already exists (another
   * writer won), or "full" when `maxPipelines` is given and that many pipelines exist already.
   */
  append(rev: PipelineRevision, keep: number, maxPipelines?: number): Promise<AppendResult>;
  /** Deletes every revision; false when there was none. */
  deletePipeline(name: string): Promise<boolean>;
  /**
   * Calls onChange with a pipeline's name when another replica changed it, or undefined when any
   * may have changed. Absent for a store only this process writes.
   */
  watch?(onChange: (name: string | undefined) => void): () => void;
}

export type AppendResult = "stored" | "taken" | "full";

interface StoredRevision {
  name: string;
  revision: number;
  description: string;
  spec: PipelineSpec;
  createTime: string;
}

export class PipelineFileStore implements PipelineStore {
  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  private dir(name: string): string {
    // Names are checked before they reach here; this guards against a caller that forgot.
    const problem = pipelineNameProblem(name);
    if (problem) throw new Error(problem);
    return path.join(this.root, name);
  }

  /** Every stored revision, by pipeline name, in revision order. Unreadable files are logged and skipped. */
  async loadAll(): Promise<Map<string, PipelineRevision[]>> {
    const out = new Map<string, PipelineRevision[]>();
    await mkdir(this.root, { recursive: true });
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || pipelineNameProblem(entry.name)) continue;
      const revisions: PipelineRevision[] = [];
      for (const file of await readdir(path.join(this.root, entry.name))) {
        const match = REVISION_FILE.exec(file);
        if (!match) continue;
        const filePath = path.join(this.root, entry.name, file);
        try {
          const stored = JSON.parse(await readFile(filePath, "utf8")) as StoredRevision;
          if (stored.name !== entry.name || stored.revision !== Number(match[1])) throw new Error("name or revision does not match the file's path");
          revisions.push({ ...stored, createTime: new Date(stored.createTime) });
        } catch (err) {
          this.log.error({ file: filePath, err: (err as Error).message }, "skipping an unreadable pipeline revision file");
        }
      }
      if (revisions.length) out.set(entry.name, revisions.sort((a, b) => a.revision - b.revision));
    }
    return out;
  }

  async load(name: string): Promise<PipelineRevision[]> {
    return (await this.loadAll()).get(name) ?? [];
  }

  /** One process writes this directory, serialised per pipeline by the catalog (which also counts the pipelines): no other writer can win. */
  async append(rev: PipelineRevision, keep: number): Promise<AppendResult> {
    const stored: StoredRevision = { ...rev, createTime: rev.createTime.toISOString() };
    await replaceFileAtomic(path.join(this.dir(rev.name), `${rev.revision}.json`), JSON.stringify(stored, null, 2), { mode: 0o600 });
    for (const file of await readdir(this.dir(rev.name))) {
      const match = REVISION_FILE.exec(file);
      if (match && Number(match[1]) <= rev.revision - keep) await rm(path.join(this.dir(rev.name), file), { force: true });
    }
    return "stored";
  }

  /** Renames the folder away first, so a crash mid-way never leaves a half-deleted pipeline that loads. */
  async deletePipeline(name: string): Promise<boolean> {
    const tombstone = path.join(this.root, `.deleted-${name}-${randomBytes(6).toString("hex")}`);
    try {
      await rename(this.dir(name), tombstone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    await rm(tombstone, { recursive: true, force: true });
    return true;
  }
}

