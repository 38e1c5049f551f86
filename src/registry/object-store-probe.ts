// Whether RegistryService's object store answers, for health ("<RegistryService>/objectstore"):
// a HeadBucket every few seconds marks it up or down, and a transfer that failed for want of the
// store marks it down at once (the next check that answers brings it back).
import type { HealthProbe } from "../platform/health.js";

/** What the probe needs of a store: a cheap reachability check and news of failed operations. */
export interface ProbedObjectStore {
  reachable(timeoutMs: number): Promise<boolean>;
  onUnavailable(listener: () => void): void;
}

export interface ObjectStoreProbeOptions {
  /** Time between checks. */
  readonly intervalMs: number;
  /** A check unanswered this long counts as down. */
  readonly timeoutMs: number;
}

export class ObjectStoreProbe implements HealthProbe {
  private state = true;
  private readonly listeners: ((up: boolean) => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly store: ProbedObjectStore,
    private readonly options: ObjectStoreProbeOptions,
  ) {
    store.onUnavailable(() => this.mark(false));
    this.timer = setInterval(() => void this.check(), options.intervalMs);
    this.timer.unref();
  }

  get up(): boolean {
    return this.state;
  }

  onChange(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Runs one check now (also at start, so health is right before the first interval). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      this.mark(await this.store.reachable(this.options.timeoutMs));
    } finally {
      this.checking = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private mark(up: boolean): void {
    if (up === this.state) return;
    this.state = up;
    for (const l of this.listeners) l(up);
  }
}
