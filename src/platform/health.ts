// grpc.health.v1.Health: a serving status per service ("" is the whole server),
// held in one small state object; the RPC layer is a thin adapter over it.
import { ConnectError, Code } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { bind, type ServiceBinding } from "./rpc/binding.js";
import { closeOnAbort } from "./streams.js";

export type ServingStatus = "SERVING" | "NOT_SERVING";

/** Whether something a service depends on is up, and news of each change. */
export interface HealthProbe {
  readonly up: boolean;
  onChange(listener: (up: boolean) => void): void;
}

/** A service that cannot serve while its probe is down (FeatureService without its Redis). */
export interface ServiceDependency {
  /** The service's full name (openloop.feature.v1.FeatureService). */
  readonly service: string;
  readonly probe: HealthProbe;
  /** What it is ("redis", "objectstore"): also reported on its own as "<service>/<component>", beside "<service>/postgres". */
  readonly component?: string;
  /** Only "<service>/<component>" follows the probe: the service's other calls work without it (RegistryService without its object store). */
  readonly reportOnly?: boolean;
}

type Listener = (status: ServingStatus | undefined) => void;

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly endWatchers = new Set<() => void>();
  private shuttingDown = false;

  constructor(serviceNames: Iterable<string>) {
    this.statuses.set("", "SERVING");
    for (const name of serviceNames) this.statuses.set(name, "SERVING");
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const l of this.listeners.get(service) ?? []) l(status);
  }

  /**
   * Follows `dep`: its service is NOT_SERVING while the probe is down (unless reportOnly), and
   * the server ("") is SERVING only while every service is.
   */
  follow(dep: ServiceDependency): void {
    const apply = (up: boolean) => {
      if (this.shuttingDown || !this.statuses.has(dep.service)) return;
      if (dep.component) this.set(`${dep.service}/${dep.component}`, up ? "SERVING" : "NOT_SERVING");
      if (dep.reportOnly) return;
      this.set(dep.service, up ? "SERVING" : "NOT_SERVING");
      // Services only: a "<service>/<component>" entry reports a dependency, not a service.
      const all = [...this.statuses].every(([name, s]) => name === "" || name.includes("/") || s === "SERVING");
      this.set("", all ? "SERVING" : "NOT_SERVING");
    };
    dep.probe.onChange(apply);
    apply(dep.probe.up);
  }

  /** Marks everything NOT_SERVING, then ends every Watch so they do not hold up shutdown. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const service of [...this.statuses.keys()]) this.set(service, "NOT_SERVING");
    for (const end of this.endWatchers) end();
  }

  /** Yields the current status, then each change, until the signal aborts or shutdown() runs. */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus | undefined> {
    const queue: (ServingStatus | undefined)[] = [this.get(service)];
    let wake: (() => void) | undefined;
    let ended = false;
    const listener: Listener = (s) => {
      queue.push(s);
      wake?.();
    };
    const end = () => {
      ended = true;
      wake?.();
    };
    let set = this.listeners.get(service);
    if (!set) this.listeners.set(service, (set = new Set()));
    set.add(listener);
    this.endWatchers.add(end);
    signal.addEventListener("abort", end, { once: true });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift();
        if (ended || signal.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(service);
      this.endWatchers.delete(end);
      signal.removeEventListener("abort", end);
    }
  }
}

const toProto = (s: ServingStatus | undefined): Status =>
  s === "SERVING" ? Status.SERVING : s === "NOT_SERVING" ? Status.NOT_SERVING : Status.SERVICE_UNKNOWN;

export function healthService(state: HealthState): ServiceBinding {
  return bind(Health, {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service '${req.service}'; ask for "" (the server) or a listed service`, Code.NotFound);
      return { status: toProto(status) };
    },
    async *watch(req, ctx) {
      for await (const status of closeOnAbort(state.watch(req.service, ctx.signal), ctx.signal)) yield { status: toProto(status) };
      // Ended by the deadline or the client rather than by shutdown: say so.
      if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason);
    },
  });
}
