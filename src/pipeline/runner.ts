// One pipeline run end to end: hooks, the executor, the run record, metrics.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry as MetricsRegistry } from "prom-client";
import type { CallScope, PipelineCatalog } from "./catalog.js";
import type { CompiledPipeline } from "./definition.js";
import { checkInputs, executePipeline, type RunObserver, type StageTiming } from "./executor.js";
import { HookDeliveryError, type HookDispatcher, type HookPayload, redactUrl } from "./hooks.js";
import type { RunRecord, RunStore } from "./runs.js";
import type { HookEvent, JsonObject, JsonValue, Upstreams } from "./types.js";
import { codeName } from "../platform/observe.js";
import { inSpan } from "../platform/tracing/index.js";

/** Response header carrying the run id of ExecutePipeline, so a failed run can be read with GetRun. */
export const RUN_ID_HEADER = "openloop-run-id";

export interface RunResult {
  runId: string;
  revision: number;
  output: JsonValue;
  timings: StageTiming[];
  attempts: number;
}

export interface StreamObserver extends RunObserver {
  runStarted(runId: string, revision: number): void;
}

export class PipelineRunner {
  private readonly runsTotal: Counter<"pipeline" | "outcome">;
  private readonly runSeconds: Histogram<"pipeline">;

  constructor(
    private readonly catalog: PipelineCatalog,
    private readonly runs: RunStore,
    private readonly hooks: HookDispatcher,
    private readonly upstreams: Upstreams,
    private readonly log: Logger,
    metrics: MetricsRegistry,
  ) {
    this.runsTotal = new Counter({
      name: "openloop_pipeline_runs_total",
      help: "Pipeline runs by pipeline and outcome (succeeded, failed, cancelled).",
      labelNames: ["pipeline", "outcome"],
      registers: [metrics],
    });
    this.runSeconds = new Histogram({
      name: "openloop_pipeline_run_duration_seconds",
      help: "Whole-run latency of pipeline runs, hooks included.",
      labelNames: ["pipeline"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [metrics],
    });
  }

  async execute(
    name: string,
    revision: number,
    inputs: JsonObject,
    scope: CallScope,
    observer?: StreamObserver,
    onStart?: (runId: string) => void,
  ): Promise<RunResult> {
    const pipeline = await this.catalog.compile(name, revision);
    checkInputs(pipeline, inputs);
    const start = performance.now();
    const run: RunRecord = {
      runId: randomUUID(),
      pipeline: name,
      revision: pipeline.revision.revision,
      status: "running",
      inputs,
      timings: [],
      attempts: 0,
      startTime: new Date(),
    };
    this.runs.put(run);
    observer?.runStarted(run.runId, run.revision);
    onStart?.(run.runId);
    try {
      await this.fire(pipeline, "pre_execute", run, scope.signal);
      const attributes = { "openloop.pipeline.name": name, "openloop.pipeline.revision": run.revision, "openloop.pipeline.run_id": run.runId };
      const output = await inSpan(`pipeline ${name}`, { attributes }, () => executePipeline(pipeline, inputs, { ...scope, upstreams: this.upstreams, log: this.log, observer }, run));
      run.status = "succeeded";
      run.output = output;
      this.finish(run, start);
      await this.fire(pipeline, "post_execute", run, scope.signal);
      return { runId: run.runId, revision: run.revision, output, timings: run.timings, attempts: run.attempts };
    } catch (err) {
      const e = scope.signal.aborted ? abortError(scope.signal) : ConnectError.from(err);
      run.status = e.code === Code.Canceled ? "cancelled" : "failed";
      run.error = { code: codeName(e.code), message: e.rawMessage };
      this.finish(run, start);
      // A failed hook delivery must not hide the run's own error.
      await this.fire(pipeline, "error", run, scope.signal).catch(() => undefined);
      throw e;
    }
  }

  private finish(run: RunRecord, start: number): void {
    run.finishTime = new Date();
    this.runs.put(run);
    this.runsTotal.inc({ pipeline: run.pipeline, outcome: run.status });
    this.runSeconds.observe({ pipeline: run.pipeline }, (performance.now() - start) / 1000);
  }

  /**
   * Calls the hooks of one event. Optional hooks are queued and never wait. Required hooks are
   * awaited; a required pre_execute hook that cannot be delivered fails the run with UNAVAILABLE,
   * while a failed required post_execute or error hook is only logged (the run already ended).
   */
  private async fire(pipeline: CompiledPipeline, event: HookEvent, run: RunRecord, signal: AbortSignal): Promise<void> {
    const hooks = pipeline.revision.spec.hooks.filter((h) => h.events.includes(event));
    if (!hooks.length) return;
    const payload: HookPayload = { event, runId: run.runId, pipeline: run.pipeline, revision: run.revision, time: new Date().toISOString() };
    if (event !== "pre_execute") {
      payload.timings = run.timings.map((t) => ({ ...t }));
      payload.attempts = run.attempts;
    }
    if (event === "error" && run.error) payload.error = { ...run.error };
    const required: Promise<void>[] = [];
    for (const hook of hooks) {
      if (!hook.required) {
        this.hooks.enqueue(hook, payload);
        continue;
      }
      required.push(
        this.hooks.deliverNow(hook, payload, signal).catch((err: Error) => {
          if (event === "pre_execute") {
            // A denied address is this server's rule, not an outage: retrying the run cannot help.
            const code = err instanceof HookDeliveryError && err.denied ? Code.FailedPrecondition : Code.Unavailable;
            throw new ConnectError(`required pre_execute hook ${redactUrl(hook.url)} failed, so the run did not start: ${err.message}`, code);
          }
          this.log.warn({ url: redactUrl(hook.url), event, runId: run.runId }, `required webhook failed: ${err.message}`);
        }),
      );
    }
    await Promise.all(required);
  }
}


/** Why a run stopped when its caller's signal fired: the deadline, or a cancellation. */
function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError && (reason.code === Code.DeadlineExceeded || reason.code === Code.Canceled)) return reason;
  return new ConnectError("the run was cancelled by its caller", Code.Canceled);
}
