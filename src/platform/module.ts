// The shape every service folder hands to the composition root (src/server.ts).
import type { Logger } from "pino";
import type { Registry as MetricsRegistry } from "prom-client";
import type { ServiceDependency } from "./health.js";
import type { ServiceBinding } from "./rpc/binding.js";

export interface ServiceModule {
  /** The services this module implements; every transport serves the same bindings. */
  readonly services: readonly ServiceBinding[];
  /** Releases stores, timers and upstream connections; called once on shutdown. */
  close(): Promise<void>;
  /** What its services need to serve (a Redis): health reports them NOT_SERVING while it is down. */
  readonly dependencies?: readonly ServiceDependency[];
}

/** What every module may use; passed to each module's factory by the composition root. */
export interface PlatformContext {
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
}
