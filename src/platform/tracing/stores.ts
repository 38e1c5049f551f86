// Spans of storage and Redis operations, added where a module builds its store (its
// composition), not at each call site: every method of the store runs in a span named
// "<component>.<method>". With tracing off the store itself is returned.
import type { Attributes } from "@opentelemetry/api";
import { inSpan, SpanKind, tracingEnabled } from "./tracer.js";

/**
 * `store` with each method call in a span ("feature.store.get"), a child of the active span;
 * `attributes` describe the backend (db.system.name: "redis"). Properties pass through.
 */
export function traceStore<T extends object>(store: T, component: string, attributes: Attributes = {}): T {
  if (!tracingEnabled()) return store;
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function" || typeof prop !== "string" || prop === "constructor") return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const name = `${component}.${prop}`;
        const opts = { kind: SpanKind.CLIENT, attributes: { ...attributes, "db.operation.name": prop } };
        const method = value as (...args: unknown[]) => unknown;
        fn = (...args: unknown[]) => inSpan(name, opts, () => method.apply(target, args));
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
