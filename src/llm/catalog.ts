// The model catalog: public ids and aliases mapped to a provider and its upstream model,
// with fallback lists. Also resolves "<provider>/<upstream-model>" for models a provider lists.
import type { LlmModelConfig } from "./config.js";

export interface Route {
  /** The public id (never an alias). */
  readonly model: string;
  readonly provider: string;
  readonly upstreamModel: string;
  readonly fallbacks: readonly string[];
  readonly aliases: readonly string[];
}

export class CatalogError extends Error {}

export class Catalog {
  private readonly byId = new Map<string, Route>();
  private readonly entries: Route[] = [];

  constructor(
    models: readonly LlmModelConfig[],
    private readonly providers: ReadonlySet<string>,
  ) {
    for (const m of models) {
      if (!providers.has(m.provider)) {
        throw new CatalogError(`llm.models '${m.id}': provider '${m.provider}' is not in llm.providers (known: ${[...providers].join(", ") || "none"})`);
      }
      const route: Route = {
        model: m.id,
        provider: m.provider,
        upstreamModel: m.upstreamModel ?? m.id,
        fallbacks: m.fallbacks,
        aliases: m.aliases,
      };
      for (const name of [m.id, ...m.aliases]) {
        if (name.startsWith("registry:")) throw new CatalogError(`llm.models '${m.id}': ids starting with 'registry:' are reserved for registry models`);
        if (this.byId.has(name)) throw new CatalogError(`llm.models: '${name}' names two models; ids and aliases must be unique`);
        this.byId.set(name, route);
      }
      this.entries.push(route);
    }
    for (const route of this.entries) {
      for (const f of route.fallbacks) {
        const target = this.byId.get(f);
        if (!target) throw new CatalogError(`llm.models '${route.model}': fallback '${f}' is not a catalog id or alias`);
        if (target === route) throw new CatalogError(`llm.models '${route.model}': a model cannot be its own fallback`);
      }
    }
  }

  /** A catalog id or alias, or "<provider>/<upstream-model>" for any configured provider. */
  resolve(id: string): Route | undefined {
    const known = this.byId.get(id);
    if (known) return known;
    const slash = id.indexOf("/");
    if (slash > 0 && slash < id.length - 1) {
      const provider = id.slice(0, slash);
      if (this.providers.has(provider)) {
        return { model: id, provider, upstreamModel: id.slice(slash + 1), fallbacks: [], aliases: [] };
      }
    }
    return undefined;
  }

  /** The model and then its fallbacks, in order, each once. */
  chain(route: Route): Route[] {
    const out = [route];
    for (const f of route.fallbacks) {
      const next = this.byId.get(f)!;
      if (!out.includes(next)) out.push(next);
    }
    return out;
  }

  list(): readonly Route[] {
    return this.entries;
  }

  ids(): string[] {
    return this.entries.map((r) => r.model);
  }
}
