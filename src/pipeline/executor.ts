// Runs a compiled pipeline: preprocess once, then generate, postprocess and validate, re-asking
// the generate stage while a refusal leaves attempts.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { CompiledPipeline, CompiledStep } from "./definition.js";
import { TemplateError } from "./template.js";
import { inSpan, tracingEnabled } from "../platform/tracing/index.js";
import { type JsonObject, type JsonValue, type RunState, type StageName, StepFailure, type StepContext, type Upstreams } from "./types.js";
import { listSome, quote } from "../platform/errors.js";

export interface StageTiming {
  stage: StageName;
  attempt: number;
  durationMs: number;
}

/** What a streaming caller sees, in run order. */
export interface RunObserver {
  stageStarted(stage: StageName, attempt: number): void;
  /** validationError is set when a postprocess or validate stage refused the output and the run re-asks. */
  stageFinished(timing: StageTiming, validationError?: string): void;
  delta(text: string): void;
}

export interface RunEnvironment {
  signal: AbortSignal;
  timeoutMs(): number | undefined;
  upstreams: Upstreams;
  log: Logger;
  observer?: RunObserver;
}

/** Filled in as the run goes, so a failed run still reports how far it got. */
export interface RunProgress {
  timings: StageTiming[];
  attempts: number;
}

/** Input variables that are missing or unknown, as one INVALID_ARGUMENT. */
export function checkInputs(pipeline: CompiledPipeline, inputs: JsonObject): void {
  const declared = new Set(pipeline.inputVariables);
  const missing = pipeline.inputVariables.filter((v) => !Object.prototype.hasOwnProperty.call(inputs, v));
  const unknown = Object.keys(inputs).filter((v) => !declared.has(v));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing input variables: ${listSome(missing)}`);
  if (unknown.length) problems.push(`unknown input variables: ${listSome(unknown.map(quote))}`);
  if (problems.length) {
    const takes = pipeline.inputVariables.length ? pipeline.inputVariables.join(", ") : "none";
    throw new ConnectError(`${problems.join("; ")} (pipeline '${pipeline.revision.name}' revision ${pipeline.revision.revision} takes: ${takes})`, Code.InvalidArgument);
  }
}

function stepError(err: unknown, step: CompiledStep, signal: AbortSignal): ConnectError {
  if (signal.aborted) {
    const reason = signal.reason;
    return reason instanceof ConnectError ? reason : new ConnectError("the run was cancelled", Code.Canceled);
  }
  const label = `${step.stage} step '${step.name}'`;
  if (err instanceof StepFailure) return new ConnectError(`${label} refused the input: ${err.message}`, Code.FailedPrecondition);
  if (err instanceof TemplateError) return new ConnectError(`${label}: ${err.message}`, Code.InvalidArgument);
  if (err instanceof ConnectError) return new ConnectError(`${label}: ${err.rawMessage}`, err.code, err.metadata, undefined, err);
  return new ConnectError(`${label} failed: ${(err as Error)?.message ?? String(err)}`, Code.Internal, undefined, undefined, err);
}

/** What a step sees of its run; a class, not per-step closures, to keep a run's overhead small. */
class StepRunContext implements StepContext {
  constructor(
    private readonly env: RunEnvironment,
    readonly stepName: string,
  ) {}

  get signal(): AbortSignal {
    return this.env.signal;
  }

  get upstreams(): Upstreams {
    return this.env.upstreams;
  }

  get streaming(): boolean {
    return this.env.observer !== undefined;
  }

  get log(): Logger {
    return this.env.log;
  }

  timeoutMs(): number | undefined {
    return this.env.timeoutMs();
  }

  delta(text: string): void {
    this.env.observer?.delta(text);
  }
}

/** Runs one stage in its span ("pipeline.stage generate"). */
function runStage(pipeline: CompiledPipeline, stage: StageName, state: RunState, env: RunEnvironment, progress: RunProgress): Promise<Refusal | undefined> {
  if (!tracingEnabled()) return runStageSteps(pipeline, stage, state, env, progress);
  const attributes = { "openloop.pipeline.name": pipeline.revision.name, "openloop.pipeline.stage": stage, "openloop.pipeline.attempt": state.attempt };
  return inSpan(`pipeline.stage ${stage}`, { attributes }, () => runStageSteps(pipeline, stage, state, env, progress));
}

/** Runs one stage's steps in order; a refusal by a postprocess or validate step is returned, not thrown. */
async function runStageSteps(pipeline: CompiledPipeline, stage: StageName, state: RunState, env: RunEnvironment, progress: RunProgress): Promise<Refusal | undefined> {
  const observer = env.observer;
  observer?.stageStarted(stage, state.attempt);
  const start = performance.now();
  let refusal: Refusal | undefined;
  try {
    for (const step of pipeline.stages[stage]) {
      if (env.signal.aborted) throw stepError(undefined, step, env.signal);
      try {
        await step.def.run(state, step.prepared, new StepRunContext(env, step.name));
      } catch (err) {
        if (err instanceof StepFailure && (stage === "postprocess" || stage === "validate") && !env.signal.aborted) {
          refusal = new Refusal(step, err.message);
          break;
        }
        throw stepError(err, step, env.signal);
      }
    }
  } finally {
    const timing = { stage, attempt: state.attempt, durationMs: performance.now() - start };
    progress.timings.push(timing);
    observer?.stageFinished(timing, refusal && state.attempt < pipeline.revision.spec.maxAttempts ? refusal.message : undefined);
  }
  return refusal;
}

export async function executePipeline(pipeline: CompiledPipeline, inputs: JsonObject, env: RunEnvironment, progress: RunProgress): Promise<JsonValue> {
  checkInputs(pipeline, inputs);
  const state: RunState = { vars: { ...inputs }, attempt: 1 };
  await runStage(pipeline, "preprocess", state, env, progress);
  const maxAttempts = pipeline.revision.spec.maxAttempts;
  const afterPreprocess = maxAttempts > 1 ? structuredClone(state.vars) : undefined;
  const generated = pipeline.stages.generate[0]?.writes[0];
  for (;;) {
    progress.attempts = state.attempt;
    await runStage(pipeline, "generate", state, env, progress);
    const refusal = (await runStage(pipeline, "postprocess", state, env, progress)) ?? (await runStage(pipeline, "validate", state, env, progress));
    if (!refusal) return state.vars[pipeline.outputVariable] ?? null;
    const what = refusal.step.stage === "validate" ? `validator '${refusal.step.name}'` : `postprocess step '${refusal.step.name}'`;
    if (state.attempt >= maxAttempts) {
      const tries = maxAttempts === 1 ? "" : ` after ${maxAttempts} attempts`;
      throw new ConnectError(`${what} refused the output${tries}: ${refusal.message}`, Code.FailedPrecondition);
    }
    const previousOutput = generated !== undefined ? (state.vars[generated] ?? null) : null;
    state.vars = structuredClone(afterPreprocess!);
    state.reask = { previousOutput, step: refusal.step.name, message: refusal.message };
    state.attempt++;
    env.log.debug({ pipeline: pipeline.revision.name, attempt: state.attempt, step: refusal.step.name }, "re-asking after a refused output");
  }
}

/** A postprocess or validate step refused the output. */
class Refusal extends Error {
  constructor(
    readonly step: CompiledStep,
    message: string,
  ) {
    super(message);
  }
}
