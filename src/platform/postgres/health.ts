// Reports PostgreSQL, per service that keeps its state there, in grpc.health.v1: a check of
// "<service>/postgres" is SERVING while the replica reaches PostgreSQL. The services themselves
// stay SERVING during an outage (cached reads still answer), so load balancers keep the replica.
import type { HealthState } from "../health.js";
import type { ChangeListener } from "./changes.js";

export function reportPostgresHealth(health: HealthState, changes: ChangeListener, services: readonly string[]): () => void {
  const set = (live: boolean) => {
    for (const s of services) health.set(`${s}/postgres`, live ? "SERVING" : "NOT_SERVING");
  };
  set(changes.live);
  return changes.watchLive(set);
}
