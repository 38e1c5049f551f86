// Online model definitions (task, hyperparameters, thresholds), kept durably:
// embedded as <dataDir>/feedback/models/<name>/model.json, in one Redis hash, or in PostgreSQL
// (shared storage, src/feedback/pg-definitions.ts).
import { randomUUID } from "node:crypto";
import { link, mkdir, readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import type { Redis } from "ioredis";
import type { Hyperparameters, Task } from "./linear.js";

/** Which feedback becomes a training sample. */
export type TrainingSamples = "significant-errors" | "all-outcomes";
import { syncDir, writeFileSynced } from "../platform/durable-file.js";

export interface ModelDefinition {
  name: string;
  task: Task;
  hp: Hyperparameters;
  errorThreshold: number;
  updateThreshold: number;
  /** Train sooner while the model is new (see ModelLearner.trainAt). */
  warmUp: boolean;
  trainingSamples: TrainingSamples;
  /** Versions of the learner's own kept besides the serving and aliased ones; 0 keeps all. */
  maxVersions: number;
  /** Least time between the starts of two trainings by one process, in milliseconds. */
  minTrainIntervalMs: number;
  /** FeatureService feature set applied first; "" for none. */
  featureSet: string;
  description: string;
  /** Milliseconds since the epoch. */
  createTime: number;
}

export interface DefinitionStore {
  /** Stores a new definition; false when the name is taken. */
  create(def: ModelDefinition): Promise<boolean>;
  get(name: string): Promise<ModelDefinition | undefined>;
  list(): Promise<ModelDefinition[]>;
}

export class FsDefinitionStore implements DefinitionStore {
  constructor(private readonly root: string) {}

  /** The directory of one model (its definition, sample log and learner state). */
  modelDir(name: string): string {
    return path.join(this.root, name);
  }

  async create(def: ModelDefinition): Promise<boolean> {
    const dir = this.modelDir(def.name);
    await mkdir(dir, { recursive: true });
    // A temp name of its own per call: two creates of one name must not write the same file.
    const tmp = path.join(dir, `.model.json.${randomUUID()}.tmp`);
    await writeFileSynced(tmp, JSON.stringify(def));
    try {
      // link() fails when the target exists: an atomic create-if-absent.
      await link(tmp, path.join(dir, "model.json"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    await syncDir(dir);
    return true;
  }

  async get(name: string): Promise<ModelDefinition | undefined> {
    try {
      return parseDefinition(await readFile(path.join(this.modelDir(name), "model.json"), "utf8"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async list(): Promise<ModelDefinition[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const defs = await Promise.all(names.map((n) => this.get(n)));
    return defs.filter((d): d is ModelDefinition => d !== undefined);
  }
}

export class RedisDefinitionStore implements DefinitionStore {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}models`;
  }

  async create(def: ModelDefinition): Promise<boolean> {
    return (await this.redis.hsetnx(this.key, def.name, JSON.stringify(def))) === 1;
  }

  async get(name: string): Promise<ModelDefinition | undefined> {
    const s = await this.redis.hget(this.key, name);
    return s ? parseDefinition(s) : undefined;
  }

  async list(): Promise<ModelDefinition[]> {
    const all = await this.redis.hvals(this.key);
    return all.map(parseDefinition);
  }
}

// Definitions stored before a setting existed read with the behaviour they were created with
// (makeDefinition fills every setting in for new ones).
export function parseDefinition(json: string): ModelDefinition {
  const def = JSON.parse(json) as ModelDefinition;
  def.hp.scaling ??= "none";
  def.warmUp ??= false;
  def.trainingSamples ??= "significant-errors";
  def.maxVersions ??= 0;
  def.minTrainIntervalMs ??= 0;
  return def;
}
