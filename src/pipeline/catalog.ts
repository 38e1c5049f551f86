// The pipelines of this server: revisions in memory and in a PipelineStore, checked before they
// are stored. With a shared store the memory is a cache of it: other replicas' changes arrive
// through store.watch (and a periodic reload as the safety net), a name not in memory is looked
// up in the store before answering NOT_FOUND, and a write that loses a race to another replica
// (the store refuses its revision number) reloads and answers as if it had come second here.
import { Code, ConnectError } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { checkSpec, compilePipeline, pipelineNameProblem, type CompiledPipeline } from "./definition.js";
import type { StepRegistry } from "./registry.js";
import type { PipelineStore } from "./store.js";
import type { PipelineRevision, PipelineSpec } from "./types.js";
import { canonicalJson } from "../platform/canonical-json.js";
import { listSome, quote } from "../platform/errors.js";

/** Model ids and aliases LLMService can serve (asked at creation). */
export type ModelLister = (signal: AbortSignal, timeoutMs: number | undefined) => Promise<ReadonlySet<string>>;

export interface CatalogLimits {
  maxPipelines: number;
  /** Revisions kept per pipeline; the oldest are deleted beyond this. */
  maxRevisions: number;
}

export interface CallScope {
  signal: AbortSignal;
  timeoutMs(): number | undefined;
}


export class PipelineCatalog {
  private readonly revisions = new Map<string, PipelineRevision[]>();
  private readonly compiled = new LRUCache<string, CompiledPipeline>({ max: 1000 });
  /** One change at a time per pipeline name. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private stopWatching: (() => void) | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  /**
   * Reads of the store are numbered when they start; per name the newest one installed wins, so a
   * read that started before a later write (or a later read) cannot take the cache back in time.
   */
  private reads = 0;
  private readonly installed = new Map<string, number>();

  private constructor(
    private readonly store: PipelineStore,
    private readonly registry: StepRegistry,
    private readonly listModels: ModelLister,
    private readonly limits: CatalogLimits,
    private readonly log: Logger,
  ) {}

  /** With a shared store, `reloadEveryMs` is the safety net for a change notification that got lost. */
  static async open(store: PipelineStore, registry: StepRegistry, listModels: ModelLister, limits: CatalogLimits, log: Logger, reloadEveryMs?: number): Promise<PipelineCatalog> {
    const catalog = new PipelineCatalog(store, registry, listModels, limits, log);
    for (const [name, revs] of await store.loadAll()) {
      const latest = revs.at(-1)!;
      const { problems } = checkSpec(latest.spec, registry);
      if (problems.length) log.error({ pipeline: name, revision: latest.revision, problems }, "stored pipeline no longer checks out (a custom step missing?); it cannot run");
      catalog.revisions.set(name, revs);
    }
    if (store.watch) {
      catalog.stopWatching = store.watch((name) => void (name === undefined ? catalog.reloadAll() : catalog.refresh(name)).catch(() => undefined));
      if (reloadEveryMs) {
        catalog.reloadTimer = setInterval(() => void catalog.reloadAll().catch(() => undefined), reloadEveryMs);
        catalog.reloadTimer.unref();
      }
    }
    return catalog;
  }

  close(): void {
    this.stopWatching?.();
    clearInterval(this.reloadTimer);
  }

  private get shared(): boolean {
    return this.store.watch !== undefined;
  }

  /** Re-reads one pipeline from the store (another replica changed it). */
  private async refresh(name: string): Promise<void> {
    const read = ++this.reads;
    this.install(name, await this.store.load(name), read);
  }

  private async reloadAll(): Promise<void> {
    const read = ++this.reads;
    const all = await this.store.loadAll();
    for (const name of [...this.revisions.keys()]) if (!all.has(name)) this.install(name, [], read);
    for (const [name, revs] of all) this.install(name, revs, read);
  }

  private install(name: string, revs: PipelineRevision[], read: number): void {
    if (read < (this.installed.get(name) ?? 0)) return;
    this.installed.set(name, read);
    const current = this.revisions.get(name);
    for (const r of current ?? []) if (!revs.some((x) => x.revision === r.revision)) this.compiled.delete(`${name}@${r.revision}`);
    if (revs.length) this.revisions.set(name, revs);
    else this.revisions.delete(name);
  }

  private async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }

  /** Every problem with a definition, as one INVALID_ARGUMENT; with a scope, LLMService is asked which models it serves. */
  async check(name: string, spec: PipelineSpec, scope: CallScope | undefined): Promise<void> {
    const problems: string[] = [];
    const nameProblem = pipelineNameProblem(name);
    if (nameProblem) problems.push(nameProblem);
    const result = checkSpec(spec, this.registry);
    problems.push(...result.problems);
    // "registry:" models are loaded from RegistryService on first use and are not listed before.
    const models = result.models.filter((m) => !m.startsWith("registry:"));
    if (models.length && scope) {
      let known: ReadonlySet<string>;
      try {
        known = await this.listModels(scope.signal, scope.timeoutMs());
      } catch (err) {
        const e = ConnectError.from(err);
        throw new ConnectError(`cannot check the pipeline's models: LLMService.ListModels failed: ${e.rawMessage}`, e.code === Code.Canceled || e.code === Code.DeadlineExceeded ? e.code : Code.Unavailable);
      }
      for (const m of models) if (!known.has(m)) problems.push(`model '${quote(m)}' is not served by LLMService (see ListModels)`);
    }
    if (problems.length) {
      throw new ConnectError(`pipeline '${quote(name)}' has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n- ${listSome(problems, "\n- ")}`, Code.InvalidArgument);
    }
  }

  async create(name: string, description: string, spec: PipelineSpec, scope: CallScope): Promise<PipelineRevision> {
    await this.check(name, spec, scope);
    const exists = () => new ConnectError(`pipeline '${quote(name)}' already exists; use UpdatePipeline to make a new revision`, Code.AlreadyExists);
    return this.withLock(name, async () => {
      if (this.revisions.has(name)) throw exists();
      this.checkRoom();
      const rev = await this.append(name, description, spec, true);
      if (!rev) throw exists();
      return rev;
    });
  }

  async update(name: string, description: string, spec: PipelineSpec, expectedRevision: number | undefined, scope: CallScope): Promise<PipelineRevision> {
    await this.lookup(name);
    await this.check(name, spec, scope);
    return this.withLock(name, async () => {
      for (;;) {
        const latest = this.latest(name);
        if (expectedRevision !== undefined && expectedRevision !== latest.revision) {
          throw new ConnectError(`pipeline '${quote(name)}' is at revision ${latest.revision}, not the expected ${expectedRevision}; read it again and retry`, Code.FailedPrecondition);
        }
        const rev = await this.append(name, description, spec);
        if (rev) return rev;
        // Another replica stored this revision number first; append re-read the pipeline.
      }
    });
  }

  /**
   * A config-file pipeline: checked without asking other services (they may not be serving yet),
   * stored as a new revision when it differs from the latest one. Throws on problems.
   */
  async applyFromConfig(name: string, description: string, spec: PipelineSpec): Promise<PipelineRevision> {
    await this.check(name, spec, undefined);
    return this.withLock(name, async () => {
      for (;;) {
        const latest = this.revisions.get(name)?.at(-1);
        if (latest && latest.description === description && canonicalJson(latest.spec) === canonicalJson(spec)) return latest;
        if (!latest) this.checkRoom();
        // Replicas starting with the same config file race to store it: the losers re-read and find it stored.
        const rev = await this.append(name, description, spec, !latest);
        if (rev) return rev;
      }
    });
  }

  /** The limit as this replica sees it; a shared store checks it again, exactly, as it creates (pg-store.ts). */
  private checkRoom(): void {
    if (this.revisions.size >= this.limits.maxPipelines) throw this.full();
  }

  private full(): ConnectError {
    return new ConnectError(`this server holds its limit of ${this.limits.maxPipelines} pipelines (pipeline.maxPipelines); delete one first`, Code.ResourceExhausted);
  }

  /**
   * Stores the next revision; undefined (after re-reading the pipeline) when another replica
   * stored that number first. A create (`creating`) is refused when the pipelines are at the limit.
   */
  private async append(name: string, description: string, spec: PipelineSpec, creating = false): Promise<PipelineRevision | undefined> {
    const revs = this.revisions.get(name) ?? [];
    const rev: PipelineRevision = { name, revision: (revs.at(-1)?.revision ?? 0) + 1, description, spec, createTime: new Date() };
    const result = await this.store.append(rev, this.limits.maxRevisions, creating ? this.limits.maxPipelines : undefined);
    if (result === "full") throw this.full();
    if (result === "taken") {
      await this.refresh(name);
      return undefined;
    }
    this.installed.set(name, ++this.reads);
    const next = [...revs, rev];
    while (next.length > this.limits.maxRevisions) {
      const old = next.shift()!;
      this.compiled.delete(`${name}@${old.revision}`);
    }
    this.revisions.set(name, next);
    return rev;
  }

  private latest(name: string): PipelineRevision {
    const rev = this.revisions.get(name)?.at(-1);
    if (!rev) throw new ConnectError(`pipeline '${quote(name)}' not found`, Code.NotFound);
    return rev;
  }

  /** Like get, but a pipeline or revision missing from memory is looked up in a shared store first (another replica may have just written it). */
  async lookup(name: string, revision?: number): Promise<PipelineRevision> {
    const known = this.revisions.get(name);
    if (this.shared && (!known || (revision && !known.some((r) => r.revision === revision)))) {
      if (pipelineNameProblem(name) === undefined) await this.refresh(name);
    }
    return this.get(name, revision);
  }

  /** A revision (0 or undefined: the latest). */
  get(name: string, revision?: number): PipelineRevision {
    if (!revision) return this.latest(name);
    const revs = this.revisions.get(name);
    if (!revs) throw new ConnectError(`pipeline '${quote(name)}' not found`, Code.NotFound);
    const rev = revs.find((r) => r.revision === revision);
    if (!rev) {
      throw new ConnectError(`pipeline '${quote(name)}' has no revision ${revision} (kept: ${revs[0].revision}-${revs.at(-1)!.revision})`, Code.NotFound);
    }
    return rev;
  }

  /** Latest revisions in name order, after `after` (exclusive). */
  list(after: string, limit: number): { pipelines: PipelineRevision[]; more: boolean } {
    const names = [...this.revisions.keys()].filter((n) => n > after).sort();
    return { pipelines: names.slice(0, limit).map((n) => this.latest(n)), more: names.length > limit };
  }

  async delete(name: string): Promise<void> {
    await this.withLock(name, async () => {
      const revs = this.revisions.get(name);
      if (!revs && !this.shared) throw new ConnectError(`pipeline '${quote(name)}' not found`, Code.NotFound);
      const existed = await this.store.deletePipeline(name);
      this.installed.set(name, ++this.reads);
      this.revisions.delete(name);
      for (const r of revs ?? []) this.compiled.delete(`${name}@${r.revision}`);
      if (!existed) throw new ConnectError(`pipeline '${quote(name)}' not found`, Code.NotFound);
    });
  }

  /** A revision ready to run, compiled once and cached. */
  async compile(name: string, revision?: number): Promise<CompiledPipeline> {
    const rev = await this.lookup(name, revision);
    const key = `${name}@${rev.revision}`;
    let compiled = this.compiled.get(key);
    if (!compiled) {
      const { problems } = checkSpec(rev.spec, this.registry);
      if (problems.length) {
        throw new ConnectError(`pipeline '${name}' revision ${rev.revision} cannot run on this server: ${problems.join("; ")}`, Code.FailedPrecondition);
      }
      compiled = compilePipeline(rev, this.registry);
      this.compiled.set(key, compiled);
    }
    return compiled;
  }
}
