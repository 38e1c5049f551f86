// Built-in preprocess steps: template, feature_lookup, redact, truncate, embed.
// Settings use the proto JSON names of the matching messages in pipeline_service.proto.
import { Code, ConnectError } from "@connectrpc/connect";
import { z } from "zod";
import { parseTemplate, renderTemplate, type ParsedTemplate } from "../template.js";
import type { JsonValue, StepDefinition } from "../types.js";
import { featureValueToJson } from "./feature-values.js";
import { describeValue, parseConfig, templateProblems, templateVariables, variableName, zodProblems } from "./common.js";
import { quote } from "../../platform/errors.js";
// LLMService has no tokenizer RPC: a token budget becomes characters at the gateway's own estimate.
import { CHARS_PER_TOKEN_ESTIMATE } from "../../llm/token-estimate.js";

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
        throw new ConnectError(`${ctx.stepName}: no features stored for entity '${quote(entityKey)}' in feature set '${c.featureSet}' (${e.rawMessage})`, Code.FailedPrecondition);
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

// The lookbehind lets a match start only where a run of local-part characters starts, so a long
// run without an @ is scanned once, not once per position.
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}/g;
// Phone numbers are found in maximal runs of digits, spaces, tabs, dots, dashes, parentheses and
// plus signs (a pattern with nested repetition would backtrack quadratically on long digit runs).
const PHONE_RUN = /[\d \t().+-]+/g;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL = /^\d+\.\d+$/;
const WORD = /[\w]/;

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/**
 * Masks a phone number inside a run: from its first +, ( or digit to its last digit, kept only
 * with 7-15 digits (E.164 allows at most 15), not touching a word on either side, and not an ISO
 * date or a decimal number.
 */
function redactPhoneRun(run: string, offset: number, whole: string, replacement: string): string {
  let start = 0;
  while (start < run.length && !isDigit(run[start]) && run[start] !== "+" && run[start] !== "(") start++;
  let end = run.length;
  while (end > start && !isDigit(run[end - 1])) end--;
  if (end <= start) return run;
  const core = run.slice(start, end);
  if (!/^\+?\(?\d/.test(core)) return run;
  const before = start > 0 ? run[start - 1] : whole[offset - 1];
  const after = end < run.length ? run[end] : whole[offset + end];
  if ((before !== undefined && (WORD.test(before) || before === "." || before === "-" || before === "+")) || (after !== undefined && (WORD.test(after) || after === "-"))) return run;
  let digits = 0;
  for (const c of core) if (isDigit(c)) digits++;
  if (digits < 7 || digits > 15 || ISO_DATE.test(core) || DECIMAL.test(core)) return run;
  return run.slice(0, start) + replacement + run.slice(end);
}

export function redactText(text: string, opts: { emails: boolean; phones: boolean; replacement: string }): string {
  let out = text;
  if (opts.emails) out = out.replace(EMAIL, opts.replacement);
  if (opts.phones) out = out.replace(PHONE_RUN, (run: string, offset: number, whole: string) => redactPhoneRun(run, offset, whole, opts.replacement));
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
      throw new ConnectError(`${ctx.stepName}: variable '${quote(c.input)}' must be a string to truncate, got ${value === null ? "null" : typeof value}`, Code.InvalidArgument);
    }
    state.vars[c.input] = truncateText(value, c.maxChars);
  },
};

const embedConfig = z
  .object({
    model: z.string().min(1, "model is required"),
    input: variableName.default("prompt"),
    output: variableName.default("embedding"),
    dimensions: z.number().int().positive().optional(),
  })
  .strict();

export const embedStep: StepDefinition<z.infer<typeof embedConfig>> = {
  name: "embed",
  stage: "preprocess",
  description: "Embeds a text variable with LLMService.Embed and writes the vector (a list of numbers) to a variable (default: embedding).",
  validateConfig: (config) => zodProblems(embedConfig, config),
  prepare: (config) => parseConfig(embedConfig, config),
  reads: (config) => [(config.input as string | undefined) || "prompt"],
  writes: (config) => [(config.output as string | undefined) || "embedding"],
  models: (config) => (typeof config.model === "string" ? [config.model] : []),
  async run(state, c, ctx) {
    const text = state.vars[c.input];
    if (typeof text !== "string" || text === "") {
      throw new ConnectError(`${ctx.stepName}: variable '${c.input}' must be a non-empty string to embed, got ${describeValue(text ?? null)}`, Code.InvalidArgument);
    }
    const res = await ctx.upstreams.llm.embed({ model: c.model, inputs: [text], dimensions: c.dimensions }, { signal: ctx.signal, timeoutMs: ctx.timeoutMs() });
    state.vars[c.output] = [...(res.embeddings[0]?.values ?? [])];
  },
};
