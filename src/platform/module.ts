// The shape every service folder hands to the composition root (src/server.ts).
import type { Logger } from "pino";
import type { Registry as MetricsRegistry } from "prom-client";
import type { AuthGate } from "./auth.js";
import type { RequestHandler } from "./listener.js";
import type { RpcObserver } from "./observe.js";
import type { ServiceDependency } from "./health.js";
import type { ServiceBinding } from "./rpc/binding.js";

export interface ServiceModule {
  /** The services this module implements; every transport serves the same bindings. */
  readonly services: readonly ServiceBinding[];
  /** Plain HTTP APIs served on the same port beside the RPCs (the OpenAI-compatible /v1/*). */
  readonly httpRoutes?: readonly HttpRoute[];
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

/** A plain HTTP API under a path prefix, served with the platform's own auth, metrics and limits. */
export interface HttpRoute {
  /** The path prefix it serves, such as "/v1/". */
  readonly prefix: string;
  /** Builds the handler once the platform's parts exist (at serve time). */
  create(platform: HttpRoutePlatform): RequestHandler;
}

/** What the platform lends an HTTP route: the RPCs' auth gate and observer, and the server's limits. */
export interface HttpRoutePlatform {
  readonly auth: AuthGate | undefined;
  readonly observer: RpcObserver;
  readonly maxMessageBytes: number;
  /** Deadline of calls that bring none; 0: none. */
  readonly defaultDeadlineMs: number;
  /** Aborts when the shutdown grace period is over. */
  readonly shutdown: AbortSignal;
  readonly log: Logger;
}
