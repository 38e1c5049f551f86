// Checks a pipeline definition against the step catalog and compiles it for running.
import { HOOK_EVENTS, STAGES, type JsonObject, type PipelineRevision, type PipelineSpec, type StageName, type StepDefinition } from "./types.js";
import type { StepRegistry } from "./registry.js";
import { quote } from "../platform/errors.js";

export const PIPELINE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
export const MAX_ATTEMPTS_LIMIT = 10;
export const HOOK_ATTEMPTS_LIMIT = 20;

export function pipelineNameProblem(name: string): string | undefined {
  if (PIPELINE_NAME.test(name) && !name.includes("..")) return undefined;
  return `pipeline name must be 1-64 characters of [a-z0-9._-] starting with a letter or digit, got '${quote(name)}'`;
}

export interface CompiledStep {
  readonly name: string;
  readonly stage: StageName;
  readonly def: StepDefinition<unknown>;
  readonly prepared: unknown;
  readonly writes: readonly string[];
}

export interface CompiledPipeline {
  readonly revision: PipelineRevision;
  readonly stages: Readonly<Record<StageName, readonly CompiledStep[]>>;
  /** The variable returned as the run's output. */
  readonly outputVariable: string;
  /** Variables the run must be given. */
  readonly inputVariables: readonly string[];
  /** LLM model ids the pipeline calls. */
  readonly models: readonly string[];
}

export interface CheckResult {
  problems: string[];
  models: string[];
}

function stepNames(spec: PipelineSpec): Map<string, string[]> {
  const counts = new Map<string, number>();
  for (const stage of STAGES) for (const s of spec.stages[stage]) counts.set(s.type, (counts.get(s.type) ?? 0) + 1);
  const seen = new Map<string, number>();
  const names = new Map<string, string[]>();
  for (const stage of STAGES) {
    names.set(
      stage,
      spec.stages[stage].map((s) => {
        if (s.name) return s.name;
        const n = (seen.get(s.type) ?? 0) + 1;
        seen.set(s.type, n);
        return (counts.get(s.type) ?? 0) > 1 ? `${s.type}#${n}` : s.type;
      }),
    );
  }
  return names;
}

/** Runs a step type's own function (custom steps are code we do not control); a throw becomes a problem. */
function callSafely<T>(fn: () => T, fallback: T, problems: string[], label: string, what: string): T {
  try {
    return fn();
  } catch (err) {
    problems.push(`${label}: ${what} threw: ${(err as Error)?.message ?? String(err)}`);
    return fallback;
  }
}

/** Every problem with a definition that can be found without asking other services. */
export function checkSpec(spec: PipelineSpec, registry: StepRegistry): CheckResult {
  const problems: string[] = [];
  const models = new Set<string>();

  const inputs = new Set<string>();
  for (const v of spec.inputVariables) {
    if (!VARIABLE_NAME.test(v)) problems.push(`input variable '${quote(v)}' must be a letter or _ followed by up to 63 letters, digits, _ or -`);
    else if (inputs.has(v)) problems.push(`input variable '${quote(v)}' is listed twice`);
    inputs.add(v);
  }

  const available = new Set(inputs);
  const names = stepNames(spec);
  const written: string[] = [];
  for (const stage of STAGES) {
    const steps = spec.stages[stage];
    if (stage === "generate" && steps.length !== 1) {
      problems.push(`the generate stage needs exactly one step (an llm_generate, a predict or a custom generate step), got ${steps.length}`);
    }
    steps.forEach((step, i) => {
      const label = `${stage} step ${i + 1} (${names.get(stage)![i]})`;
      const def = registry.get(step.type);
      if (!def) {
        problems.push(`${label}: unknown step type '${step.type}'; ${stage} steps are ${registry.namesFor(stage).join(", ") || "none"}`);
        return;
      }
      if (def.stage !== stage) {
        problems.push(`${label}: '${step.type}' is a ${def.stage} step and cannot run in the ${stage} stage`);
        return;
      }
      const configProblems = callSafely(() => def.validateConfig(step.config), [] as string[], problems, label, "validateConfig");
      if (configProblems.length) {
        for (const p of configProblems) problems.push(`${label}: ${p}`);
        return;
      }
      for (const v of callSafely(() => def.reads?.(step.config) ?? [], [] as string[], problems, label, "reads")) {
        if (!available.has(v)) {
          problems.push(`${label}: variable '${quote(v)}' is not provided: it is not an input variable and no earlier step writes it`);
        }
      }
      for (const v of callSafely(() => def.writes?.(step.config) ?? [], [] as string[], problems, label, "writes")) {
        available.add(v);
        written.push(v);
      }
      for (const m of callSafely(() => def.models?.(step.config) ?? [], [] as string[], problems, label, "models")) models.add(m);
      if (def.prepare) callSafely(() => def.prepare!(step.config), undefined, problems, label, "prepare");
    });
  }

  if (spec.outputVariable && !available.has(spec.outputVariable)) {
    problems.push(`output variable '${quote(spec.outputVariable)}' is not provided: it is not an input variable and no step writes it`);
  }
  if (!Number.isInteger(spec.maxAttempts) || spec.maxAttempts < 1 || spec.maxAttempts > MAX_ATTEMPTS_LIMIT) {
    problems.push(`maxAttempts must be 1-${MAX_ATTEMPTS_LIMIT}, got ${spec.maxAttempts}`);
  }

  spec.hooks.forEach((hook, i) => {
    const label = `hook ${i + 1}`;
    let url: URL | undefined;
    try {
      url = new URL(hook.url);
    } catch {
      problems.push(`${label}: url must be an absolute http or https URL, got '${quote(hook.url)}'`);
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") problems.push(`${label}: url must use http or https, got '${url.protocol}'`);
    if (url && (url.username || url.password)) problems.push(`${label}: url must not carry credentials; send a secret in headers instead`);
    if (hook.events.length === 0) problems.push(`${label}: events must list at least one of ${HOOK_EVENTS.join(", ")}`);
    if (!Number.isInteger(hook.maxAttempts) || hook.maxAttempts < 1 || hook.maxAttempts > HOOK_ATTEMPTS_LIMIT) {
      problems.push(`${label}: maxAttempts must be 1-${HOOK_ATTEMPTS_LIMIT}, got ${hook.maxAttempts}`);
    }
    for (const [name, value] of Object.entries(hook.headers)) {
      if (!HEADER_NAME.test(name)) problems.push(`${label}: header name '${quote(name)}' is not a valid HTTP header name`);
      if (/[\r\n\0]/.test(value)) problems.push(`${label}: header '${quote(name)}' has a line break or NUL in its value`);
    }
  });

  return { problems, models: [...models] };
}

/** Compiles a definition that checkSpec accepted: prepares every step once, for all runs of the revision. */
export function compilePipeline(revision: PipelineRevision, registry: StepRegistry): CompiledPipeline {
  const { spec } = revision;
  const names = stepNames(spec);
  const stages = {} as Record<StageName, CompiledStep[]>;
  const written: string[] = [];
  const models = new Set<string>();
  for (const stage of STAGES) {
    stages[stage] = spec.stages[stage].map((step, i) => {
      const def = registry.get(step.type);
      if (!def) throw new Error(`unknown step type '${step.type}'`);
      const writes = def.writes?.(step.config) ?? [];
      written.push(...writes);
      for (const m of def.models?.(step.config) ?? []) models.add(m);
      const prepared = def.prepare ? def.prepare(step.config as JsonObject) : step.config;
      return { name: names.get(stage)![i], stage, def, prepared, writes };
    });
  }
  const outputVariable =
    spec.outputVariable || (written.includes("output") || spec.inputVariables.includes("output") ? "output" : (written.at(-1) ?? spec.inputVariables.at(-1) ?? "output"));
  return { revision, stages, outputVariable, inputVariables: spec.inputVariables, models: [...models] };
}
