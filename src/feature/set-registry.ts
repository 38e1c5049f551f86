// Feature-set definitions, compiled and kept durably: one JSON file per set under
// <dataDir>/feature-sets/<name>.json (the proto JSON of the FeatureSet plus the
// store generation), written atomically (temp file, fsync, rename, fsync dir).
// Definitions stay on local files even when values live in Redis: servers sharing a
// Redis should declare their sets in the config file so they agree.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { fromJson, toJson } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { FeatureSet } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureSetSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { CompiledFeatureSet, FeatureLimits } from "./compile.js";
import { compileFeatureSet } from "./compile.js";
import { invalidArgument } from "./bad-request.js";
import type { FeatureSetDefinition } from "./definition.js";
import { SET_NAME_PATTERN } from "./definition.js";
import { definitionFromProto, definitionToProto } from "./proto.js";
import type { SetRef } from "./store.js";
import { replaceFileAtomic, syncDir } from "../platform/durable-file.js";
import { quote } from "../platform/errors.js";

export interface RegisteredSet {
  readonly compiled: CompiledFeatureSet;
  readonly ref: SetRef;
  readonly createTime: Date;
  /** The definition as served by GetFeatureSet / ListFeatureSets. */
  readonly message: FeatureSet;
}

interface SetFile {
  readonly format: 1;
  readonly generation: string;
  readonly createTime: string;
  readonly featureSet: JsonValue;
}

export class FeatureSetRegistry {
  private readonly sets = new Map<string, RegisteredSet>();
  private readonly creating = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly limits: FeatureLimits,
    private readonly maxSets: number,
    private readonly log: Logger,
  ) {}

  /** Loads every stored set; a file that cannot be read is logged and skipped (and left in place). */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const file of (await readdir(this.dir)).sort()) {
      if (file.startsWith(".") && file.endsWith(".tmp")) {
        // Left by a write that crashed before its rename: the set file it meant to replace is intact.
        await unlink(path.join(this.dir, file)).catch(() => {});
        continue;
      }
      if (!file.endsWith(".json")) continue;
      const name = file.slice(0, -".json".length);
      try {
        if (!SET_NAME_PATTERN.test(name)) throw new Error("not a valid set name");
        const stored = JSON.parse(await readFile(path.join(this.dir, file), "utf8")) as SetFile;
        const message = fromJson(FeatureSetSchema, stored.featureSet);
        const def = definitionFromProto(message);
        if (def.name !== name) throw new Error(`file holds set '${def.name}'`);
        this.sets.set(name, this.register(def, stored.generation, new Date(stored.createTime)));
      } catch (err) {
        this.log.error({ file: path.join(this.dir, file), err: (err as Error).message }, "feature set file skipped");
      }
    }
  }

  get(name: string): RegisteredSet | undefined {
    return this.sets.get(name);
  }

  /** Like get, but NOT_FOUND when the set does not exist. */
  require(name: string): RegisteredSet {
    const set = this.sets.get(name);
    if (set !== undefined) return set;
    if (!SET_NAME_PATTERN.test(name)) {
      throw new ConnectError(`feature_set must be 1-64 characters of [a-z0-9_-] starting with a letter or digit, got '${quote(name)}'`, Code.InvalidArgument);
    }
    throw new ConnectError(`feature set '${quote(name)}' not found; create it with CreateFeatureSet (ListFeatureSets shows the existing ones)`, Code.NotFound);
  }

  /** All sets in name order. */
  list(): RegisteredSet[] {
    return [...this.sets.values()].sort((a, b) => (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0));
  }

  /** Creates a new set: INVALID_ARGUMENT listing every problem, ALREADY_EXISTS, or RESOURCE_EXHAUSTED at the set limit. */
  async create(def: FeatureSetDefinition): Promise<RegisteredSet> {
    const compiled = this.compile(def);
    if (this.sets.has(def.name) || this.creating.has(def.name)) {
      throw new ConnectError(`feature set '${quote(def.name)}' already exists; delete it first or pick another name`, Code.AlreadyExists);
    }
    if (this.sets.size + this.creating.size >= this.maxSets) {
      throw new ConnectError(`the server holds ${this.sets.size} feature sets, the limit max_feature_sets=${this.maxSets}; delete unused sets`, Code.ResourceExhausted);
    }
    this.creating.add(def.name);
    try {
      const set = this.build(compiled, newGeneration(), new Date());
      await this.persist(set);
      this.sets.set(def.name, set);
      return set;
    } finally {
      this.creating.delete(def.name);
    }
  }

  /**
   * Declares a set from the config file: created when new, replaced when its definition
   * changed. A replaced set keeps its generation, so values stored before stay readable.
   */
  async declare(def: FeatureSetDefinition): Promise<RegisteredSet> {
    const compiled = this.compile(def);
    const existing = this.sets.get(def.name);
    const set = this.build(compiled, existing?.ref.generation ?? newGeneration(), existing?.createTime ?? new Date());
    if (existing !== undefined && sameDefinition(existing.message, set.message)) return existing;
    await this.persist(set);
    this.sets.set(def.name, set);
    return set;
  }

  /** Removes a set and its file; returns it so the caller can drop its stored values. */
  async delete(name: string): Promise<RegisteredSet> {
    const set = this.require(name);
    await unlink(this.file(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    // Durable before the values go: a crash must not bring the set back over dropped values.
    await syncDir(this.dir);
    this.sets.delete(name);
    return set;
  }

  private compile(def: FeatureSetDefinition): CompiledFeatureSet {
    const result = compileFeatureSet(def, this.limits);
    if (!result.ok) {
      throw invalidArgument(`invalid feature set '${quote(def.name)}', ${result.problems.length} problem(s)`, result.problems);
    }
    return result.set;
  }

  private register(def: FeatureSetDefinition, generation: string, createTime: Date): RegisteredSet {
    return this.build(this.compile(def), generation, createTime);
  }

  private build(compiled: CompiledFeatureSet, generation: string, createTime: Date): RegisteredSet {
    return {
      compiled,
      ref: { name: compiled.name, generation },
      createTime,
      message: definitionToProto(compiled.definition, createTime),
    };
  }

  private async persist(set: RegisteredSet): Promise<void> {
    const body: SetFile = {
      format: 1,
      generation: set.ref.generation,
      createTime: set.createTime.toISOString(),
      featureSet: toJson(FeatureSetSchema, set.message),
    };
    await replaceFileAtomic(this.file(set.ref.name), `${JSON.stringify(body, null, 2)}\n`);
  }

  private file(name: string): string {
    // Names are checked against SET_NAME_PATTERN before they get here: no separators, no dots.
    return path.join(this.dir, `${name}.json`);
  }
}

function newGeneration(): string {
  return randomBytes(6).toString("hex");
}

function sameDefinition(a: FeatureSet, b: FeatureSet): boolean {
  const strip = (m: FeatureSet) => JSON.stringify({ ...(toJson(FeatureSetSchema, m) as object), createTime: undefined });
  return strip(a) === strip(b);
}
