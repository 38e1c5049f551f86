// Built-in generate steps: llm_generate (LLMService) and predict (FeedbackService online models).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { z } from "zod";
import type { FeatureValue } from "../../../gen/openloop/feature/v1/feature_value_pb.js";
import { ChatMessageSchema, Role, type ChatMessage } from "../../../gen/openloop/llm/v1/llm_service_pb.js";
import { parseTemplate, renderTemplate, stringifyValue, type ParsedTemplate } from "../template.js";
import type { JsonObject, JsonValue, RunState, StepDefinition } from "../types.js";
import { jsonToFeatureValue } from "./feature-values.js";
import { parseConfig, templateProblems, templateVariables, variableName, zodProblems } from "./common.js";
import { listSome, quote } from "../../platform/errors.js";

const llmConfig = z
  .object({
    model: z.string().min(1, "model is required: a model id from LLMService.ListModels"),
    /** A template. */
    systemPrompt: z.string().optional(),
    input: variableName.default("prompt"),
    output: variableName.default("text"),
    maxTokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().gt(0).max(1).optional(),
    stop: z.array(z.string().min(1)).max(8).default([]),
    // proto JSON writes int64 as a decimal string.
    seed: z.union([z.number().int(), z.string().regex(/^-?\d{1,19}$/)]).optional(),
  })
  .strict();

type LlmConfig = z.infer<typeof llmConfig> & { system?: ParsedTemplate };

/** The message that re-asks the model after its answer was refused. */
export function reaskMessage(step: string, message: string): string {
  return `Your previous answer was rejected by the check '${step}': ${message}\nAnswer again, fixing this.`;
}

function conversation(state: RunState, c: LlmConfig): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (c.system) messages.push(create(ChatMessageSchema, { role: Role.SYSTEM, content: renderTemplate(c.system, state.vars) }));
  messages.push(create(ChatMessageSchema, { role: Role.USER, content: stringifyValue(state.vars[c.input]) }));
  if (state.reask) {
    messages.push(
      create(ChatMessageSchema, { role: Role.ASSISTANT, content: stringifyValue(state.reask.previousOutput) }),
      create(ChatMessageSchema, { role: Role.USER, content: reaskMessage(state.reask.step, state.reask.message) }),
    );
  }
  return messages;
}

export const llmGenerateStep: StepDefinition<LlmConfig> = {
  name: "llm_generate",
  stage: "generate",
  description: "Calls LLMService with the prompt variable as the user message; streams text deltas to streaming callers.",
  validateConfig: (config) => {
    const problems = zodProblems(llmConfig, config);
    return problems.length ? problems : templateProblems("systemPrompt", config.systemPrompt as string | undefined);
  },
  prepare: (config) => {
    const c = parseConfig(llmConfig, config);
    return { ...c, system: c.systemPrompt ? parseTemplate(c.systemPrompt) : undefined };
  },
  reads: (config) => [(config.input as string | undefined) || "prompt", ...templateVariables(config.systemPrompt as string | undefined)],
  writes: (config) => [(config.output as string | undefined) || "text"],
  models: (config) => (typeof config.model === "string" ? [config.model] : []),
  async run(state, c, ctx) {
    const request = {
      model: c.model,
      messages: conversation(state, c),
      maxTokens: c.maxTokens,
      temperature: c.temperature,
      topP: c.topP,
      stop: c.stop,
      seed: c.seed === undefined ? undefined : BigInt(c.seed),
    };
    const options = { signal: ctx.signal, timeoutMs: ctx.timeoutMs() };
    if (!ctx.streaming) {
      const res = await ctx.upstreams.llm.generate(request, options);
      state.vars[c.output] = res.text;
      return;
    }
    let text = "";
    for await (const event of ctx.upstreams.llm.generateStream(request, options)) {
      if (event.event.case === "textDelta") {
        text += event.event.value;
        ctx.delta(event.event.value);
      }
    }
    state.vars[c.output] = text;
  },
};

const FEATURE_TYPE_NAMES = [
  "FEATURE_TYPE_DOUBLE",
  "FEATURE_TYPE_INT64",
  "FEATURE_TYPE_STRING",
  "FEATURE_TYPE_BOOL",
  "FEATURE_TYPE_DOUBLE_LIST",
  "FEATURE_TYPE_INT64_LIST",
  "FEATURE_TYPE_STRING_LIST",
  "FEATURE_TYPE_BOOL_LIST",
] as const;

const predictConfig = z
  .object({
    model: z.string().min(1, "model is required: an online model of FeedbackService"),
    input: variableName.default("features"),
    output: variableName.default("prediction"),
    version: z.string().default(""),
    // Proto JSON names of openloop.feature.v1.FeatureType.
    featureTypes: z.record(z.string(), z.enum(FEATURE_TYPE_NAMES)).default({}),
  })
  .strict();

export const predictStep: StepDefinition<z.infer<typeof predictConfig>> = {
  name: "predict",
  stage: "generate",
  description: "Calls FeedbackService.Predict with an object variable of features; writes {value, label, prediction_id, model_version}.",
  validateConfig: (config) => zodProblems(predictConfig, config),
  prepare: (config) => parseConfig(predictConfig, config),
  reads: (config) => [(config.input as string | undefined) || "features"],
  writes: (config) => [(config.output as string | undefined) || "prediction"],
  async run(state, c, ctx) {
    const input = state.vars[c.input];
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      throw new ConnectError(`${ctx.stepName}: variable '${quote(c.input)}' must be an object of feature name to value`, Code.InvalidArgument);
    }
    const features: Record<string, FeatureValue> = {};
    const problems: string[] = [];
    for (const [name, value] of Object.entries(input)) {
      const fv = jsonToFeatureValue(value, c.featureTypes[name]?.includes("INT64") ? "int64" : undefined);
      if (typeof fv === "string") problems.push(`${quote(name)}: ${fv}`);
      else features[name] = fv;
    }
    if (problems.length) throw new ConnectError(`${ctx.stepName}: bad features in '${c.input}': ${listSome(problems, "; ")}`, Code.InvalidArgument);
    const res = await ctx.upstreams.feedback.predict({ model: c.model, features, version: c.version }, { signal: ctx.signal, timeoutMs: ctx.timeoutMs() });
    const out: JsonObject = { value: res.prediction?.value ?? 0, prediction_id: res.predictionId, model_version: res.modelVersion };
    if (res.prediction?.label !== undefined) out.label = res.prediction.label;
    state.vars[c.output] = out as JsonValue;
  },
};
