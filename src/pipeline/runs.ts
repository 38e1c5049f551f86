// Recent runs for GetRun: least recently used dropped beyond a count, each kept for a bounded time.
import { LRUCache } from "lru-cache";
import type { StageTiming } from "./executor.js";
import type { JsonObject, JsonValue } from "./types.js";

export type RunStatus = "running" | "succeeded" | "failed" | "cancelled";

export interface RunRecord {
  runId: string;
  pipeline: string;
  revision: number;
  status: RunStatus;
  inputs: JsonObject;
  output?: JsonValue;
  timings: StageTiming[];
  attempts: number;
  /** Why it failed: the gRPC code name (INVALID_ARGUMENT...) and the message. */
  error?: { code: string; message: string };
  startTime: Date;
  finishTime?: Date;
}

export class RunStore {
  private readonly runs: LRUCache<string, RunRecord>;

  constructor(opts: { maxCount: number; ttlMs: number }) {
    this.runs = new LRUCache({ max: opts.maxCount, ttl: opts.ttlMs, updateAgeOnGet: false });
  }

  /** Stores or re-stores a run; the time to live starts again. */
  put(run: RunRecord): void {
    this.runs.set(run.runId, run);
  }

  get(runId: string): RunRecord | undefined {
    return this.runs.get(runId);
  }

  clear(): void {
    this.runs.clear();
  }
}
