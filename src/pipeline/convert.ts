// Maps the proto messages of PipelineService to the domain types and back.
import { create, fromJson, toJson, type JsonObject as PbJsonObject } from "@bufbuild/protobuf";
import { timestampFromDate, type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { quote } from "../platform/errors.js";
import {
  HookEvent as PbHookEvent,
  type Hook,
  type Pipeline,
  PipelineSchema,
  type PipelineSpec as PbPipelineSpec,
  PipelineSpecSchema,
  type Run,
  RunSchema,
  RunStatus as PbRunStatus,
  Stage,
  type StageTiming as PbStageTiming,
  StageTimingSchema,
  type Step,
  StepSchema,
} from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import type { StageTiming } from "./executor.js";
import type { RunRecord, RunStatus } from "./runs.js";
import { BUILTIN_STEP_NAMES } from "./steps/index.js";
import { type HookEvent, type HookSpec, type JsonObject, type JsonValue, type PipelineRevision, type PipelineSpec, type StageName, STAGES, type StepSpec } from "./types.js";

export const DEFAULT_HOOK_ATTEMPTS = 5;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

const STAGE_TO_PB: Record<StageName, Stage> = {
  preprocess: Stage.PREPROCESS,
  generate: Stage.GENERATE,
  postprocess: Stage.POSTPROCESS,
  validate: Stage.VALIDATE,
};
export const stageToPb = (s: StageName): Stage => STAGE_TO_PB[s];

const EVENT_FROM_PB: Partial<Record<PbHookEvent, HookEvent>> = {
  [PbHookEvent.PRE_EXECUTE]: "pre_execute",
  [PbHookEvent.POST_EXECUTE]: "post_execute",
  [PbHookEvent.ERROR]: "error",
};
const EVENT_TO_PB: Record<HookEvent, PbHookEvent> = {
  pre_execute: PbHookEvent.PRE_EXECUTE,
  post_execute: PbHookEvent.POST_EXECUTE,
  error: PbHookEvent.ERROR,
};

function stepFromPb(step: Step): StepSpec {
  const kind = step.kind;
  if (kind.case === undefined) return { type: "", name: step.name || undefined, config: {} };
  if (kind.case === "custom") return { type: kind.value.type, name: step.name || undefined, config: (kind.value.config ?? {}) as JsonObject };
  // The proto JSON form of the step's message is the config its catalog entry checks.
  let json: Record<string, unknown>;
  try {
    json = toJson(StepSchema, step) as Record<string, unknown>;
  } catch (err) {
    // A google.protobuf.Value holding NaN or Infinity has no JSON form: the request's mistake.
    throw new ConnectError(`step ${step.name ? `'${quote(step.name)}' ` : ""}config: ${(err as Error).message}`, Code.InvalidArgument);
  }
  return { type: snake(kind.case), name: step.name || undefined, config: (json[kind.case] ?? {}) as JsonObject };
}

function stepToPb(step: StepSpec): Step {
  if (BUILTIN_STEP_NAMES.has(step.type)) {
    return fromJson(StepSchema, { name: step.name ?? "", [camel(step.type)]: step.config as PbJsonObject });
  }
  return create(StepSchema, { name: step.name ?? "", kind: { case: "custom", value: { type: step.type, config: step.config as PbJsonObject } } });
}

function hookFromPb(hook: Hook, i: number, problems: string[]): HookSpec {
  const events: HookEvent[] = [];
  for (const e of hook.events) {
    const name = EVENT_FROM_PB[e];
    if (name) events.push(name);
    else problems.push(`hook ${i + 1}: event ${e} is not one of PRE_EXECUTE, POST_EXECUTE, ERROR`);
  }
  return { url: hook.url, events, required: hook.required, maxAttempts: hook.maxAttempts || DEFAULT_HOOK_ATTEMPTS, headers: { ...hook.headers } };
}

/** The domain spec of a proto spec; problems the types cannot express (a step with no kind) are thrown as INVALID_ARGUMENT. */
export function specFromPb(spec: PbPipelineSpec | undefined): PipelineSpec {
  if (!spec) throw new ConnectError("spec is required: the pipeline's stages, steps and inputs", Code.InvalidArgument);
  const problems: string[] = [];
  const stages = {} as Record<StageName, StepSpec[]>;
  for (const stage of STAGES) {
    stages[stage] = spec[stage].map((s, i) => {
      if (s.kind.case === undefined) problems.push(`${stage} step ${i + 1}: no step kind set (template, llm_generate, json_schema, custom...)`);
      return stepFromPb(s);
    });
  }
  const hooks = spec.hooks.map((h, i) => hookFromPb(h, i, problems));
  if (problems.length) throw new ConnectError(`the pipeline has ${problems.length} problem(s):\n- ${problems.join("\n- ")}`, Code.InvalidArgument);
  return {
    inputVariables: [...spec.inputVariables],
    stages,
    maxAttempts: spec.maxAttempts || 1,
    hooks,
    outputVariable: spec.outputVariable,
  };
}

/** A config-file spec, in the proto JSON form of PipelineSpec. */
export function specFromJson(json: unknown): PipelineSpec {
  let pb: PbPipelineSpec;
  try {
    pb = fromJson(PipelineSpecSchema, json as PbJsonObject);
  } catch (err) {
    throw new ConnectError((err as Error).message, Code.InvalidArgument);
  }
  return specFromPb(pb);
}

export function specToPb(spec: PipelineSpec): PbPipelineSpec {
  return create(PipelineSpecSchema, {
    inputVariables: spec.inputVariables,
    preprocess: spec.stages.preprocess.map(stepToPb),
    generate: spec.stages.generate.map(stepToPb),
    postprocess: spec.stages.postprocess.map(stepToPb),
    validate: spec.stages.validate.map(stepToPb),
    maxAttempts: spec.maxAttempts,
    hooks: spec.hooks.map((h) => ({ url: h.url, events: h.events.map((e) => EVENT_TO_PB[e]), required: h.required, maxAttempts: h.maxAttempts, headers: h.headers })),
    outputVariable: spec.outputVariable,
  });
}

export function pipelineToPb(rev: PipelineRevision): Pipeline {
  return create(PipelineSchema, {
    name: rev.name,
    revision: rev.revision,
    description: rev.description,
    spec: specToPb(rev.spec),
    createTime: timestampFromDate(rev.createTime),
  });
}

export function timingsToPb(timings: readonly StageTiming[]): PbStageTiming[] {
  return timings.map((t) => create(StageTimingSchema, { stage: STAGE_TO_PB[t.stage], attempt: t.attempt, durationMs: t.durationMs }));
}

const STATUS_TO_PB: Record<RunStatus, PbRunStatus> = {
  running: PbRunStatus.RUNNING,
  succeeded: PbRunStatus.SUCCEEDED,
  failed: PbRunStatus.FAILED,
  cancelled: PbRunStatus.CANCELLED,
};

export function runToPb(run: RunRecord): Run {
  return create(RunSchema, {
    runId: run.runId,
    pipeline: run.pipeline,
    revision: run.revision,
    status: STATUS_TO_PB[run.status],
    inputs: run.inputs as PbJsonObject,
    output: run.output === undefined ? undefined : valueToPb(run.output),
    timings: timingsToPb(run.timings),
    attempts: run.attempts,
    error: run.error ? `${run.error.code}: ${run.error.message}` : "",
    startTime: timestampFromDate(run.startTime),
    finishTime: run.finishTime ? timestampFromDate(run.finishTime) : undefined,
  });
}

/** A JSON value as google.protobuf.Value (NaN and infinities have no JSON form and become null). */
export function valueToPb(value: JsonValue): Value {
  try {
    return fromJson(ValueSchema, value);
  } catch {
    return fromJson(ValueSchema, JSON.parse(JSON.stringify(value)) as JsonValue);
  }
}
