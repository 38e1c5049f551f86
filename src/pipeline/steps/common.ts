// Helpers shared by the built-in steps: settings checked with zod, templates, field paths, regexes.
import { z } from "zod";
import { lookupPath, parseTemplate, TemplateError } from "../template.js";
import type { JsonObject, JsonValue, RunState } from "../types.js";
import { compileUserRegex } from "../../platform/user-regex.js";
import { quote } from "../../platform/errors.js";

/** Every problem zod finds in a step's settings, as "path: message". */
export function zodProblems(schema: z.ZodType, config: JsonObject): string[] {
  const result = schema.safeParse(config);
  if (result.success) return [];
  return result.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message));
}

/** Parses settings that validateConfig already accepted. */
export function parseConfig<T extends z.ZodType>(schema: T, config: JsonObject): z.infer<T> {
  return schema.parse(config);
}

export const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, "must be a variable name: letters, digits, _ or -, not starting with a digit");

export function templateProblems(label: string, template: string | undefined): string[] {
  if (template === undefined) return [];
  try {
    parseTemplate(template);
    return [];
  } catch (err) {
    if (err instanceof TemplateError) return [`${label}: ${err.message}`];
    throw err;
  }
}

export function templateVariables(template: string | undefined): string[] {
  if (template === undefined) return [];
  try {
    return [...parseTemplate(template).variables];
  } catch {
    return [];
  }
}

/** A path into the run's variables: "name" or "name.field.0.sub". */
export const variablePath = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9_-]+)*$/, "must be a variable name with optional .field or .index parts, like output.title");

export function pathVariable(path: string): string {
  return path.split(".")[0];
}

export function readPath(state: RunState, path: string): { found: true; value: JsonValue } | { found: false } {
  const found = lookupPath(state.vars, path.split("."));
  return found.found ? { found: true, value: found.value as JsonValue } : { found: false };
}

/** Flags a pattern may use: not g or y, whose lastIndex state would leak between runs. */
export const regexFlags = z.string().regex(/^(?!.*(.).*\1)[imsuv]*$/, "must be some of i, m, s, u, v, each at most once").optional();

export function regexProblems(label: string, pattern: string | undefined, flags: string | undefined): string[] {
  if (pattern === undefined) return [];
  try {
    compileUserRegex(pattern, flags);
    return [];
  } catch (err) {
    return [`${label}: ${(err as Error).message}`];
  }
}

export function describeValue(value: JsonValue): string {
  return quote(JSON.stringify(value) ?? "undefined");
}
