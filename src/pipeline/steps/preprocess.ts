// Built-in preprocess steps: template, feature_lookup, redact, truncate.
// Settings use the proto JSON names of the matching messages in pipeline_service.proto.
import { Code, ConnectError } from "@connectrpc/connect";
import { z } from "zod";
import { parseTemplate, renderTemplate, type ParsedTemplate } from "../template.js";
import type { JsonValue, StepDefinition } from "../types.js";
import { featureValueToJson } from "./feature-values.js";
import { parseConfig, templateProblems, templateVariables, variableName, zodProblems } from "./common.js";

const templateConfig = z
  .object({
    template: z.string().min(1, "template must not be empty"),
    output: variableName.default("prompt"),
  })
  .strict();

export const templateStep: StepDefinition<{ template: ParsedTemplate; output: string }> = {
  name: "template",
  stage: "preprocess",
  description: "Renders a {{var}} template from the run's variables into a variable (default: prompt).",
  validateConfig: (config) => {
    const problems = zodProblems(templateConfig, config);
    return problems.length ? problems : templateProblems("template", config.template as string);
  },
  prepare: (config) => {
    const c = parseConfig(templateConfig, config);
    return { template: parseTemplate(c.template), output: c.output };
  },
  reads: (config) => templateVariables(config.template as string | undefined),
  writes: (config) => [(config.output as string | undefined) || "prompt"],
  run(state, c) {
    state.vars[c.output] = renderTemplate(c.template, state.vars);
  },
};

const featureLookupConfig = z
  .object({
    featureSet: z.string().min(1, "featureSet is required"),
    /** Template of the entity key, such as "{{user_id}}". */
    entityKey: z.string().min(1, "entityKey is required"),
    features: z.array(z.string().min(1)).default([]),
    output: variableName.default("features"),
    required: z.boolean().default(false),
  })
  .strict();

export const featureLookupStep: StepDefinition<{ c: z.infer<typeof featureLookupConfig>; key: ParsedTemplate }> = {
  name: "feature_lookup",
  stage: "preprocess",
  description: "Reads an entity's features from FeatureService into a variable (an object of name to value).",
  validateConfig: (config) => {
    const problems = zodProblems(featureLookupConfig, config);
    return problems.length ? problems : templateProblems("entityKey", config.entityKey as string);
  },
  prepare: (config) => {
    const c = parseConfig(featureLookupConfig, config);
    return { c, key: parseTemplate(c.entityKey) };
  },
  reads: (config) => templateVariables(config.entityKey as string | undefined),
  writes: (config) => [(config.output as string | undefined) || "features"],
  async run(state, { c, key }, ctx) {
    const entityKey = renderTemplate(key, state.vars);
    try {
      const res = await ctx.upstreams.feature.getFeatures(
        { featureSet: c.featureSet, entityKey, featureNames: c.features },
        { signal: ctx.signal, timeoutMs: ctx.timeoutMs() },
      );
      const values: Record<string, JsonValue> = {};
      for (const [name, value] of Object.entries(res.features)) values[name] = featureValueToJson(value);
      state.vars[c.output] = values;
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.NotFound && !c.required) {
        state.vars[c.output] = {};
        return;
      }
      if (e.code === Code.NotFound) {
        throw new ConnectError(`${ctx.stepName}: no features stored for entity '${entityKey}' in feature set '${c.featureSet}' (${e.rawMessage})`, Code.FailedPrecondition);
      }
      throw err;
    }
  },
};

const redactConfig = z
  .object({
    input: variableName.default("prompt"),
    emails: z.boolean().default(false),
    phones: z.boolean().default(false),
    replacement: z.string().default("[REDACTED]"),
  })
  .strict()
  // Neither flag set means both: the safe default for a step whose purpose is removing personal data.
  .transform((c) => (c.emails || c.phones ? c : { ...c, emails: true, phones: true }));

const EMAIL = /[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}/g;
// A candidate phone number: digits with spaces, dots, dashes, parentheses and an optional leading +.
// A candidate is masked only with 7-15 digits (E.164 allows at most 15), and when it is not an
// ISO date or a decimal number.
const PHONE_CANDIDATE = /(?<![\w+.-])\+?\(?\d[\d \t().-]{5,}\d(?![\w-])/g;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL = /^\d+\.\d+$/;

export function redactText(text: string, opts: { emails: boolean; phones: boolean; replacement: string }): string {
  let out = text;
  if (opts.emails) out = out.replace(EMAIL, opts.replacement);
  if (opts.phones) {
    out = out.replace(PHONE_CANDIDATE, (candidate) => {
      const digits = candidate.replace(/\D/g, "").length;
      if (digits < 7 || digits > 15 || ISO_DATE.test(candidate) || DECIMAL.test(candidate)) return candidate;
      return opts.replacement;
    });
  }
  return out;
}

function redactValue(value: JsonValue, redact: (s: string) => string): JsonValue {
  if (typeof value === "string") return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact));
  if (value !== null && typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, redact);
    return out;
  }
  return value;
}

export const redactStep: StepDefinition<z.infer<typeof redactConfig>> = {
  name: "redact",
  stage: "preprocess",
  description: "Masks e-mail addresses and phone numbers in a variable (every string inside objects and lists too).",
  validateConfig: (config) => zodProblems(redactConfig, config),
  prepare: (config) => parseConfig(redactConfig, config),
  reads: (config) => [(config.input as string | undefined) || "prompt"],
  writes: (config) => [(config.input as string | undefined) || "prompt"],
  run(state, c) {
    state.vars[c.input] = redactValue(state.vars[c.input], (s) => redactText(s, c));
  },
};

/**
 * LLMService has no tokenizer RPC, so a token budget is converted to characters at this rate:
 * about 4 characters a token for English prose with GPT-style and Llama-style tokenizers (code
 * and most other languages use fewer characters a token, so the estimate can run over).
 */
export const CHARS_PER_TOKEN_ESTIMATE = 4;

const truncateConfig = z
  .object({
    input: variableName.default("prompt"),
    maxChars: z.number().int().positive().optional(),
    maxTokens: z.number().int().positive().optional(),
  })
  .strict()
  .refine((c) => (c.maxChars === undefined) !== (c.maxTokens === undefined), "give exactly one of maxChars or maxTokens");

/** Keeps the first maxChars code points (never splitting a surrogate pair). */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let out = "";
  let count = 0;
  for (const ch of text) {
    if (count === maxChars) break;
    out += ch;
    count++;
  }
  return out;
}

export const truncateStep: StepDefinition<{ input: string; maxChars: number }> = {
  name: "truncate",
  stage: "preprocess",
  description: "Cuts a text variable to a character budget, or to a token budget estimated at 4 characters a token.",
  validateConfig: (config) => zodProblems(truncateConfig, config),
  prepare: (config) => {
    const c = parseConfig(truncateConfig, config);
    return { input: c.input, maxChars: c.maxChars ?? c.maxTokens! * CHARS_PER_TOKEN_ESTIMATE };
  },
  reads: (config) => [(config.input as string | undefined) || "prompt"],
  writes: (config) => [(config.input as string | undefined) || "prompt"],
  run(state, c, ctx) {
    const value = state.vars[c.input];
    if (typeof value !== "string") {
      throw new ConnectError(`${ctx.stepName}: variable '${c.input}' must be a string to truncate, got ${value === null ? "null" : typeof value}`, Code.InvalidArgument);
    }
    state.vars[c.input] = truncateText(value, c.maxChars);
  },
};
