// Durable storage of feature-set definitions behind FeatureSetStore, which both backends
// implement: FsFeatureSetStore (embedded: one JSON file per set under <dataDir>/feature-sets/,
// written atomically: temp file, fsync, rename, fsync dir) and PgFeatureSetStore (shared:
// src/feature/pg-set-store.ts).
import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import type { JsonValue } from "@bufbuild/protobuf";
import { replaceFileAtomic, syncDir } from "../platform/durable-file.js";

/** A set as stored: its FeatureSet message in proto JSON, and the store generation of its values. */
export interface StoredSet {
  readonly name: string;
  readonly generation: string;
  readonly createTime: Date;
  readonly featureSet: JsonValue;
}

export type CreateResult = "created" | "taken" | "full";

/** One stored entry, or why it cannot be read (the caller logs and skips it). */
export type StoredEntry = { readonly name: string; readonly where: string } & ({ readonly set: StoredSet } | { readonly problem: string });

export interface FeatureSetStore {
  loadAll(): Promise<StoredEntry[]>;
  /** One set, or undefined when it does not exist. */
  load(name: string): Promise<StoredSet | undefined>;
  /**
   * Stores a new set. Stores nothing and answers "taken" when the name is taken (another replica
   * won), or "full" when `maxSets` is given and that many sets exist already.
   */
  create(set: StoredSet, maxSets?: number): Promise<CreateResult>;
  /** Stores a set, replacing one of the same name. */
  put(set: StoredSet): Promise<void>;
  /** Deletes a set; false when there was none. */
  delete(name: string): Promise<boolean>;
  /** Calls onChange with a set's name when another replica changed it, or undefined when any may have. Absent for a store only this process writes. */
  watch?(onChange: (name: string | undefined) => void): () => void;
}

interface SetFile {
  readonly format: 1;
  readonly generation: string;
  readonly createTime: string;
  readonly featureSet: JsonValue;
}

export class FsFeatureSetStore implements FeatureSetStore {
  constructor(private readonly dir: string) {}

  async loadAll(): Promise<StoredEntry[]> {
    await mkdir(this.dir, { recursive: true });
    const out: StoredEntry[] = [];
    for (const file of (await readdir(this.dir)).sort()) {
      if (file.startsWith(".") && file.endsWith(".tmp")) {
        // Left by a write that crashed before its rename: the set file it meant to replace is intact.
        await unlink(path.join(this.dir, file)).catch(() => {});
        continue;
      }
      if (!file.endsWith(".json")) continue;
      const name = file.slice(0, -".json".length);
      const where = path.join(this.dir, file);
      try {
        out.push({ name, where, set: await this.read(name) });
      } catch (err) {
        out.push({ name, where, problem: (err as Error).message });
      }
    }
    return out;
  }

  private async read(name: string): Promise<StoredSet> {
    const stored = JSON.parse(await readFile(this.file(name), "utf8")) as SetFile;
    return { name, generation: stored.generation, createTime: new Date(stored.createTime), featureSet: stored.featureSet };
  }

  async load(name: string): Promise<StoredSet | undefined> {
    try {
      return await this.read(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** One process writes this directory and the registry checks the name and the count first: no other writer can win. */
  async create(set: StoredSet): Promise<CreateResult> {
    await this.put(set);
    return "created";
  }

  async put(set: StoredSet): Promise<void> {
    const body: SetFile = { format: 1, generation: set.generation, createTime: set.createTime.toISOString(), featureSet: set.featureSet };
    await replaceFileAtomic(this.file(set.name), `${JSON.stringify(body, null, 2)}\n`);
  }

  async delete(name: string): Promise<boolean> {
    let existed = true;
    await unlink(this.file(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      existed = false;
    });
    // Durable before the values go: a crash must not bring the set back over dropped values.
    await syncDir(this.dir);
    return existed;
  }

  private file(name: string): string {
    // Names are checked against SET_NAME_PATTERN before they get here: no separators, no dots.
    return path.join(this.dir, `${name}.json`);
  }
}
