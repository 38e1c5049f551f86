// Feature-set definitions, compiled and kept durably in a FeatureSetStore (src/feature/set-store.ts):
// local files when embedded, PostgreSQL when shared. With a shared store the memory here is a
// cache of it: other replicas' changes arrive through store.watch, and a set missing from memory
// is looked up in the store before answering NOT_FOUND.
import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { fromJson, toJson } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { FeatureSet } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeatureSetSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { CompiledFeatureSet, FeatureLimits } from "./compile.js";
import { compileFeatureSet } from "./compile.js";
import { invalidArgument } from "./bad-request.js";
import type { FeatureSetDefinition } from "./definition.js";
import { SET_NAME_PATTERN } from "./definition.js";
import { definitionFromProto, definitionToProto } from "./proto.js";
import { FsFeatureSetStore, type FeatureSetStore, type StoredSet } from "./set-store.js";
import type { SetRef } from "./store.js";
import { quote } from "../platform/errors.js";

export interface RegisteredSet {
  readonly compiled: CompiledFeatureSet;
  readonly ref: SetRef;
  readonly createTime: Date;
  /** The definition as served by GetFeatureSet / ListFeatureSets. */
  readonly message: FeatureSet;
}

export class FeatureSetRegistry {
  private readonly sets = new Map<string, RegisteredSet>();
  private readonly creating = new Set<string>();
  private readonly store: FeatureSetStore;
  private stopWatching: (() => void) | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  /** Store reads numbered when they start: per set the newest installed wins (a stale read never takes the cache back in time). */
  private reads = 0;
  private readonly installed = new Map<string, number>();

  constructor(
    /** The store, or the directory of the embedded one. */
    store: FeatureSetStore | string,
    private readonly limits: FeatureLimits,
    private readonly maxSets: number,
    private readonly log: Logger,
  ) {
    this.store = typeof store === "string" ? new FsFeatureSetStore(store) : store;
  }

  /**
   * Loads every stored set; one that cannot be read is logged and skipped (and left in place).
   * With a shared store, `reloadEveryMs` is the safety net for a change notification that got lost.
   */
  async load(reloadEveryMs?: number): Promise<void> {
    for (const entry of await this.store.loadAll()) {
      try {
        if ("problem" in entry) throw new Error(entry.problem);
        this.sets.set(entry.name, this.fromStored(entry.set));
      } catch (err) {
        this.log.error({ file: entry.where, err: (err as Error).message }, "feature set file skipped");
      }
    }
    this.stopWatching = this.store.watch?.((name) => void (name === undefined ? this.reloadAll() : this.refresh(name)).catch(() => undefined));
    if (this.store.watch && reloadEveryMs) {
      this.reloadTimer = setInterval(() => void this.reloadAll().catch(() => undefined), reloadEveryMs);
      this.reloadTimer.unref();
    }
  }

  close(): void {
    this.stopWatching?.();
    clearInterval(this.reloadTimer);
  }

  private fromStored(stored: StoredSet): RegisteredSet {
    if (!SET_NAME_PATTERN.test(stored.name)) throw new Error("not a valid set name");
    const def = definitionFromProto(fromJson(FeatureSetSchema, stored.featureSet));
    if (def.name !== stored.name) throw new Error(`file holds set '${def.name}'`);
    return this.register(def, stored.generation, stored.createTime);
  }

  private toStored(set: RegisteredSet): StoredSet {
    return { name: set.ref.name, generation: set.ref.generation, createTime: set.createTime, featureSet: toJson(FeatureSetSchema, set.message) };
  }

  /** Re-reads one set from the store (another replica changed it). */
  private async refresh(name: string): Promise<void> {
    const read = ++this.reads;
    this.install(name, await this.store.load(name), read);
  }

  private async reloadAll(): Promise<void> {
    const read = ++this.reads;
    const seen = new Set<string>();
    for (const entry of await this.store.loadAll()) {
      if ("problem" in entry) continue;
      seen.add(entry.name);
      this.install(entry.name, entry.set, read);
    }
    for (const name of [...this.sets.keys()]) if (!seen.has(name)) this.install(name, undefined, read);
  }

  private install(name: string, stored: StoredSet | undefined, read: number): void {
    if (read < (this.installed.get(name) ?? 0)) return;
    this.installed.set(name, read);
    if (!stored) this.sets.delete(name);
    else this.sets.set(name, this.fromStored(stored));
  }

  private wrote(name: string): void {
    this.installed.set(name, ++this.reads);
  }

  /** Like require, but with a shared store a set missing from memory is looked up there first (another replica may have just created it). */
  async lookup(name: string): Promise<RegisteredSet> {
    if (!this.sets.has(name) && this.store.watch && SET_NAME_PATTERN.test(name)) await this.refresh(name);
    return this.require(name);
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
    // This replica's view; a shared store checks the limit again, exactly, as it creates (pg-set-store.ts).
    if (this.sets.size + this.creating.size >= this.maxSets) throw this.full(this.sets.size);
    this.creating.add(def.name);
    try {
      const set = this.build(compiled, newGeneration(), new Date());
      const result = await this.store.create(this.toStored(set), this.maxSets);
      if (result === "full") throw this.full(this.maxSets);
      if (result === "taken") {
        await this.refresh(def.name);
        throw new ConnectError(`feature set '${def.name}' already exists; delete it first or pick another name`, Code.AlreadyExists);
      }
      this.wrote(def.name);
      this.sets.set(def.name, set);
      return set;
    } finally {
      this.creating.delete(def.name);
    }
  }

  /** `held`: the sets counted (this replica's, or the shared store's count at the limit). */
  private full(held: number): ConnectError {
    return new ConnectError(`the server holds ${held} feature sets, the limit max_feature_sets=${this.maxSets}; delete unused sets`, Code.ResourceExhausted);
  }

  /**
   * Declares a set from the config file: created when new, replaced when its definition
   * changed. A replaced set keeps its generation, so values stored before stay readable.
   */
  async declare(def: FeatureSetDefinition): Promise<RegisteredSet> {
    const compiled = this.compile(def);
    let existing = this.sets.get(def.name);
    if (existing === undefined) {
      const fresh = this.build(compiled, newGeneration(), new Date());
      // Replicas starting with the same config file race to create it: the losers adopt the winner's generation.
      if ((await this.store.create(this.toStored(fresh))) === "created") {
        this.wrote(def.name);
        this.sets.set(def.name, fresh);
        return fresh;
      }
      await this.refresh(def.name);
      existing = this.sets.get(def.name);
    }
    const set = this.build(compiled, existing?.ref.generation ?? newGeneration(), existing?.createTime ?? new Date());
    if (existing !== undefined && sameDefinition(existing.message, set.message)) return existing;
    await this.store.put(this.toStored(set));
    this.wrote(def.name);
    this.sets.set(def.name, set);
    return set;
  }

  /** Removes a set and its file; returns it so the caller can drop its stored values. */
  async delete(name: string): Promise<RegisteredSet> {
    const set = await this.lookup(name);
    const existed = await this.store.delete(name);
    this.wrote(name);
    this.sets.delete(name);
    if (!existed && this.store.watch) return this.require(name); // deleted meanwhile by another replica: NOT_FOUND
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
}

function newGeneration(): string {
  return randomBytes(6).toString("hex");
}

function sameDefinition(a: FeatureSet, b: FeatureSet): boolean {
  const strip = (m: FeatureSet) => JSON.stringify({ ...(toJson(FeatureSetSchema, m) as object), createTime: undefined });
  return strip(a) === strip(b);
}
