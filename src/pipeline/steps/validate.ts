// Built-in validate steps: json_schema, regex_match, length, allowed_values.
// A failed check throws StepFailure, which re-asks the generate stage while attempts remain.
import { createRequire } from "node:module";
import type { ValidateFunction } from "ajv/dist/2020.js";
import type { FormatsPlugin } from "ajv-formats";
import { z } from "zod";
import { stringifyValue } from "../template.js";
import { type JsonValue, type StepDefinition, StepFailure } from "../types.js";
import { describeValue, parseConfig, regexFlags, regexProblems, variableName, zodProblems } from "./common.js";
import { compileUserRegex } from "../../platform/user-regex.js";
import { listSome, quote } from "../../platform/errors.js";

// ajv (about 90 modules) loads with the first json_schema step, not with every server.
const require = createRequire(import.meta.url);
let ajvModules: { Ajv2020: typeof import("ajv/dist/2020.js").Ajv2020; addFormats: FormatsPlugin } | undefined;
function loadAjv(): NonNullable<typeof ajvModules> {
  if (ajvModules) return ajvModules;
  const formatsModule = require("ajv-formats") as { default?: FormatsPlugin } & FormatsPlugin;
  // ajv-formats is CommonJS with a default export.
  ajvModules = { Ajv2020: (require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js")).Ajv2020, addFormats: formatsModule.default ?? formatsModule };
  return ajvModules;
}

/**
 * A fresh instance per schema: schemas with the same $id in two pipelines never collide. Unknown
 * keywords and formats are errors (a typo would otherwise check nothing); type and tuple style
 * rules are not, since valid schemas often break them.
 */
function compileSchema(schema: object): ValidateFunction {
  const { Ajv2020, addFormats } = loadAjv();
  const ajv = new Ajv2020({ allErrors: true, strictSchema: true, strictNumbers: true, strictTypes: false, strictTuples: false, strictRequired: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

const jsonSchemaConfig = z
  .object({
    input: variableName.default("output"),
    schema: z.record(z.string(), z.unknown()),
  })
  .strict();

export const jsonSchemaStep: StepDefinition<{ input: string; validate: ValidateFunction }> = {
  name: "json_schema",
  stage: "validate",
  description: "Checks a variable (default: output) against a JSON Schema (draft 2020-12, with formats).",
  validateConfig: (config) => {
    const problems = zodProblems(jsonSchemaConfig, config);
    if (problems.length) return problems;
    try {
      compileSchema(config.schema as object);
      return [];
    } catch (err) {
      return [`schema: ${(err as Error).message}`];
    }
  },
  prepare: (config) => {
    const c = parseConfig(jsonSchemaConfig, config);
    return { input: c.input, validate: compileSchema(c.schema) };
  },
  reads: (config) => [(config.input as string | undefined) || "output"],
  run(state, c) {
    const value = state.vars[c.input];
    if (c.validate(value)) return;
    const errors = (c.validate.errors ?? []).map((e) => `${c.input}${e.instancePath} ${e.message ?? "is invalid"}`);
    throw new StepFailure(`${c.input} does not match the JSON Schema: ${listSome(errors, "; ")}`);
  },
};

const regexMatchConfig = z
  .object({
    input: variableName.default("text"),
    pattern: z.string().min(1, "pattern is required"),
    flags: regexFlags,
  })
  .strict();

export const regexMatchStep: StepDefinition<{ input: string; regex: RegExp; source: string }> = {
  name: "regex_match",
  stage: "validate",
  description: "Checks that a text variable (default: text) matches a regular expression (not anchored).",
  validateConfig: (config) => {
    const problems = zodProblems(regexMatchConfig, config);
    return problems.length ? problems : regexProblems("pattern", config.pattern as string, config.flags as string | undefined);
  },
  prepare: (config) => {
    const c = parseConfig(regexMatchConfig, config);
    return { input: c.input, regex: compileUserRegex(c.pattern, c.flags), source: c.pattern };
  },
  reads: (config) => [(config.input as string | undefined) || "text"],
  run(state, c) {
    const value = state.vars[c.input];
    if (!c.regex.test(stringifyValue(value))) throw new StepFailure(`${c.input} ${describeValue(value ?? null)} does not match /${quote(c.source)}/`);
  },
};

const lengthConfig = z
  .object({
    input: variableName.default("text"),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  })
  .strict()
  .refine((c) => c.min !== undefined || c.max !== undefined, "give min, max or both")
  .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, "min must not exceed max");

/** Characters are Unicode code points, so an emoji counts once. */
function lengthOf(value: JsonValue): number | undefined {
  if (typeof value === "string") {
    let n = 0;
    for (const _ of value) n++;
    return n;
  }
  return Array.isArray(value) ? value.length : undefined;
}

export const lengthStep: StepDefinition<z.infer<typeof lengthConfig>> = {
  name: "length",
  stage: "validate",
  description: "Checks the length of a text (Unicode characters) or list (elements), default variable: text.",
  validateConfig: (config) => zodProblems(lengthConfig, config),
  prepare: (config) => parseConfig(lengthConfig, config),
  reads: (config) => [(config.input as string | undefined) || "text"],
  run(state, c) {
    const value = state.vars[c.input] ?? null;
    const n = lengthOf(value);
    if (n === undefined) throw new StepFailure(`${c.input} must be a text or a list to check its length, got ${describeValue(value)}`);
    const unit = typeof value === "string" ? "characters" : "elements";
    if (c.min !== undefined && n < c.min) throw new StepFailure(`${c.input} has ${n} ${unit}, fewer than the minimum ${c.min}`);
    if (c.max !== undefined && n > c.max) throw new StepFailure(`${c.input} has ${n} ${unit}, more than the maximum ${c.max}`);
  },
};

const allowedValuesConfig = z
  .object({
    input: variableName.default("text"),
    values: z.array(z.string()).min(1, "values must list at least one allowed value"),
    ignoreCase: z.boolean().default(false),
  })
  .strict();

export const allowedValuesStep: StepDefinition<{ input: string; allowed: Set<string>; values: string[]; ignoreCase: boolean }> = {
  name: "allowed_values",
  stage: "validate",
  description: "Checks that a variable (default: text), compared as text, is one of a set of values.",
  validateConfig: (config) => zodProblems(allowedValuesConfig, config),
  prepare: (config) => {
    const c = parseConfig(allowedValuesConfig, config);
    const norm = (s: string) => (c.ignoreCase ? s.toLowerCase() : s);
    return { input: c.input, values: c.values, ignoreCase: c.ignoreCase, allowed: new Set(c.values.map(norm)) };
  },
  reads: (config) => [(config.input as string | undefined) || "text"],
  run(state, c) {
    const text = stringifyValue(state.vars[c.input] ?? null);
    if (c.allowed.has(c.ignoreCase ? text.toLowerCase() : text)) return;
    throw new StepFailure(`${c.input} ${describeValue(text)} is not one of ${listSome(c.values.map((v) => quote(JSON.stringify(v))))}`);
  },
};
