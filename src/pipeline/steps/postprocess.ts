// Built-in postprocess steps: trim, extract_json, regex_extract, map_fields.
// A refusal (nothing to extract) throws StepFailure, which can re-ask the generate stage.
import { z } from "zod";
import { type JsonObject, type JsonValue, type StepDefinition, StepFailure } from "../types.js";
import { parseConfig, pathVariable, readPath, regexFlags, regexProblems, variableName, variablePath, zodProblems } from "./common.js";
import { compileUserRegex } from "../../platform/user-regex.js";
import { listSome, quote } from "../../platform/errors.js";

const trimConfig = z.object({ input: variableName.default("text") }).strict();

export const trimStep: StepDefinition<z.infer<typeof trimConfig>> = {
  name: "trim",
  stage: "postprocess",
  description: "Trims white space at both ends of a text variable (default: text).",
  validateConfig: (config) => zodProblems(trimConfig, config),
  prepare: (config) => parseConfig(trimConfig, config),
  reads: (config) => [(config.input as string | undefined) || "text"],
  writes: (config) => [(config.input as string | undefined) || "text"],
  run(state, c) {
    const value = state.vars[c.input];
    if (typeof value === "string") state.vars[c.input] = value.trim();
  },
};

/** The end index (exclusive) of the balanced JSON object or array starting at `start`, or -1. */
function balancedEnd(text: string, start: number): number {
  const stack: string[] = [];
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") stack.push("}");
    else if (ch === "[") stack.push("]");
    else if (ch === "}" || ch === "]") {
      if (stack.pop() !== ch) return -1;
      if (stack.length === 0) return i + 1;
    }
  }
  return -1;
}

function parseObjectOrArray(text: string): JsonValue | undefined {
  try {
    const value = JSON.parse(text) as JsonValue;
    return value !== null && typeof value === "object" ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first JSON object or array in a text: the whole text when it is one, else the first
 * fenced code block that is one, else the first balanced {...} or [...] that parses.
 */
export function extractJson(text: string): JsonValue | undefined {
  const whole = parseObjectOrArray(text.trim());
  if (whole !== undefined) return whole;
  for (const fence of text.matchAll(/```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)```/g)) {
    const value = parseObjectOrArray(fence[1].trim());
    if (value !== undefined) return value;
  }
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "{" && text[i] !== "[") continue;
    const end = balancedEnd(text, i);
    if (end < 0) continue;
    const value = parseObjectOrArray(text.slice(i, end));
    if (value !== undefined) return value;
  }
  return undefined;
}

const extractJsonConfig = z.object({ input: variableName.default("text"), output: variableName.default("output") }).strict();

export const extractJsonStep: StepDefinition<z.infer<typeof extractJsonConfig>> = {
  name: "extract_json",
  stage: "postprocess",
  description: "Parses the first JSON object or array found in a text variable (code fences and surrounding prose allowed).",
  validateConfig: (config) => zodProblems(extractJsonConfig, config),
  prepare: (config) => parseConfig(extractJsonConfig, config),
  reads: (config) => [(config.input as string | undefined) || "text"],
  writes: (config) => [(config.output as string | undefined) || "output"],
  run(state, c) {
    const input = state.vars[c.input];
    if (input !== null && typeof input === "object") {
      state.vars[c.output] = input;
      return;
    }
    const value = typeof input === "string" ? extractJson(input) : undefined;
    if (value === undefined) throw new StepFailure(`no JSON object or array found in ${c.input}: answer with a JSON object or array`);
    state.vars[c.output] = value;
  },
};

/** Names of a pattern's named groups (matching the empty alternative lists every group). */
export function namedGroups(pattern: string, flags: string | undefined): string[] {
  return Object.keys(compileUserRegex(`${pattern}|`, flags).exec("")?.groups ?? {});
}

const regexExtractConfig = z
  .object({
    input: variableName.default("text"),
    pattern: z.string().min(1, "pattern is required"),
    flags: regexFlags,
    output: variableName.default("output"),
  })
  .strict();

export const regexExtractStep: StepDefinition<{ input: string; output: string; regex: RegExp; source: string }> = {
  name: "regex_extract",
  stage: "postprocess",
  description: "Writes an object of the named groups of the first match of a regular expression.",
  validateConfig: (config) => {
    const problems = zodProblems(regexExtractConfig, config);
    if (problems.length) return problems;
    const c = parseConfig(regexExtractConfig, config);
    const bad = regexProblems("pattern", c.pattern, c.flags);
    if (bad.length) return bad;
    return namedGroups(c.pattern, c.flags).length ? [] : ["pattern: needs at least one named group, like (?<amount>\\d+)"];
  },
  prepare: (config) => {
    const c = parseConfig(regexExtractConfig, config);
    return { input: c.input, output: c.output, regex: compileUserRegex(c.pattern, c.flags), source: c.pattern };
  },
  reads: (config) => [(config.input as string | undefined) || "text"],
  writes: (config) => [(config.output as string | undefined) || "output"],
  run(state, c) {
    const input = state.vars[c.input];
    const match = typeof input === "string" ? c.regex.exec(input) : null;
    if (!match) throw new StepFailure(`${c.input} does not match the pattern /${quote(c.source)}/`);
    const out: JsonObject = {};
    for (const [name, value] of Object.entries(match.groups ?? {})) out[name] = value ?? null;
    state.vars[c.output] = out;
  },
};

const mapFieldsConfig = z
  .object({
    fields: z.record(z.string().min(1), variablePath).refine((f) => Object.keys(f).length > 0, "fields must map at least one output field"),
    output: variableName.default("output"),
  })
  .strict();

export const mapFieldsStep: StepDefinition<z.infer<typeof mapFieldsConfig>> = {
  name: "map_fields",
  stage: "postprocess",
  description: "Builds an object whose fields are read from paths into variables, such as title <- output.headline.",
  validateConfig: (config) => zodProblems(mapFieldsConfig, config),
  prepare: (config) => parseConfig(mapFieldsConfig, config),
  reads: (config) => Object.values((config.fields as Record<string, string> | undefined) ?? {}).map(pathVariable),
  writes: (config) => [(config.output as string | undefined) || "output"],
  run(state, c) {
    const out: JsonObject = {};
    const missing: string[] = [];
    for (const [field, path] of Object.entries(c.fields)) {
      const found = readPath(state, path);
      if (found.found) out[field] = found.value;
      else missing.push(`${field} (from ${path})`);
    }
    if (missing.length) throw new StepFailure(`missing fields: ${listSome(missing)}`);
    state.vars[c.output] = out;
  },
};
