// Domain types of the pipeline service, in plain TypeScript; service.ts maps them to the proto.
import type { Client } from "@connectrpc/connect";
import type { Logger } from "pino";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const STAGES = ["preprocess", "generate", "postprocess", "validate"] as const;
export type StageName = (typeof STAGES)[number];

export const HOOK_EVENTS = ["pre_execute", "post_execute", "error"] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** One step of a stage: a catalog (or custom) step type with its settings. */
export interface StepSpec {
  /** The step type: a built-in kind ("template", "llm_generate"...) or a registered custom step. */
  type: string;
  /** A label for errors and events; default: the type and its index in the stage. */
  name?: string;
  /** The step's settings, checked by the step type's validateConfig. */
  config: JsonObject;
}

/** An HTTP webhook called on run events. */
export interface HookSpec {
  /** http:// or https:// URL that receives a POST of the JSON event. */
  url: string;
  events: HookEvent[];
  /** Awaited on every event; a required pre-execute hook that cannot be delivered fails the run. */
  required: boolean;
  /** Tries before giving up, with exponential backoff. */
  maxAttempts: number;
  /** Extra request headers (a shared secret...). */
  headers: Record<string, string>;
}

/** What a user defines; stored as one revision. */
export interface PipelineSpec {
  /** Variables a run must give. */
  inputVariables: string[];
  stages: Record<StageName, StepSpec[]>;
  /** Tries of generate+postprocess+validate, counting re-asks after a refusal (1: no re-ask). */
  maxAttempts: number;
  hooks: HookSpec[];
  /** The variable returned as the output; empty: "output" when something writes it, else the last variable written. */
  outputVariable: string;
}

export interface PipelineRevision {
  name: string;
  /** 1, 2, 3...: every update makes the next one. */
  revision: number;
  description: string;
  spec: PipelineSpec;
  createTime: Date;
}

/** The data that flows through a run: named variables, the inputs first, then what steps write. */
export interface RunState {
  vars: Record<string, JsonValue>;
  /** 1 on the first generate attempt, 2 on the first re-ask... */
  attempt: number;
  /** Set when the generate stage runs again: the previous answer and why it was refused. */
  reask?: { previousOutput: JsonValue; step: string; message: string };
}

/** A step refusing the run's data (a validator failing, nothing to extract): the generate stage may run again. */
export class StepFailure extends Error {
  override name = "StepFailure";
}

/** Clients of the other services of this server, reached in process through the public contract. */
export interface Upstreams {
  llm: Client<typeof import("../../gen/openloop/llm/v1/llm_service_pb.js").LLMService>;
  feature: Client<typeof import("../../gen/openloop/feature/v1/feature_service_pb.js").FeatureService>;
  feedback: Client<typeof import("../../gen/openloop/feedback/v1/feedback_service_pb.js").FeedbackService>;
}

export interface StepContext {
  /** Aborted when the caller cancels or the deadline passes; pass it to every upstream call. */
  readonly signal: AbortSignal;
  /** Milliseconds left before the caller's deadline, or undefined when there is none. */
  timeoutMs(): number | undefined;
  readonly upstreams: Upstreams;
  /** True when the caller streams: generate steps should stream and report text as it arrives. */
  readonly streaming: boolean;
  /** Forwards generated text to a streaming caller. */
  delta(text: string): void;
  readonly log: Logger;
  /** The step's name in this pipeline (for messages). */
  readonly stepName: string;
}

/** A step type: built in, or registered by a program that embeds openloop. */
export interface StepDefinition<C = JsonObject> {
  /** The type name used in pipeline definitions: 1-64 characters of [a-z0-9_]. */
  readonly name: string;
  readonly stage: StageName;
  readonly description?: string;
  /** Every problem with a step's settings (empty when they are valid). */
  validateConfig(config: JsonObject): string[];
  /** Turns valid settings into what run() uses (compiled patterns, schemas); once per revision. Default: the settings. */
  prepare?(config: JsonObject): C;
  /** Variables the step needs (checked against inputs and earlier steps at creation). */
  reads?(config: JsonObject): string[];
  /** Variables the step provides to later steps. */
  writes?(config: JsonObject): string[];
  /** LLM model ids the step calls (checked against LLMService.ListModels at creation). */
  models?(config: JsonObject): string[];
  /** Does the work, reading and changing the run state; throw StepFailure to refuse the data. */
  run(state: RunState, config: C, ctx: StepContext): void | Promise<void>;
}
