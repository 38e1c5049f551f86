// A small, logic-less template renderer: `{{name}}` and `{{name.path.to.field}}`, nothing else.
// No code runs: a tag is only a dotted path looked up in plain data. `\{{` writes a literal `{{`.

import { quote } from "../platform/errors.js";

export type TemplatePart =
  | { kind: "text"; text: string }
  | { kind: "var"; path: readonly string[]; source: string };

export interface ParsedTemplate {
  readonly parts: readonly TemplatePart[];
  /** The first path segment of every tag: the variables the template needs. */
  readonly variables: readonly string[];
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** Parses a template; throws TemplateError with the offset of the first malformed tag. */
export function parseTemplate(template: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  const variables = new Set<string>();
  let text = "";
  let i = 0;
  while (i < template.length) {
    if (template.startsWith("\\{{", i)) {
      text += "{{";
      i += 3;
      continue;
    }
    if (!template.startsWith("{{", i)) {
      text += template[i];
      i++;
      continue;
    }
    const close = template.indexOf("}}", i + 2);
    if (close < 0) throw new TemplateError(`unclosed '{{' at offset ${i}: close it with '}}', or write '\\{{' for a literal`);
    const source = template.slice(i + 2, close).trim();
    const path = source.split(".");
    if (source === "" || !SEGMENT.test(path[0]) || path.slice(1).some((s) => !SEGMENT.test(s) && !INDEX.test(s))) {
      throw new TemplateError(
        `bad tag '{{${quote(template.slice(i + 2, close))}}}' at offset ${i}: a tag is a variable name with optional .field or .index parts, like {{user.name}}`,
      );
    }
    if (text) parts.push({ kind: "text", text });
    text = "";
    parts.push({ kind: "var", path, source });
    variables.add(path[0]);
    i = close + 2;
  }
  if (text) parts.push({ kind: "text", text });
  return { parts, variables: [...variables] };
}

/** Looks up a dotted path in plain data; own properties only, so `constructor` or `__proto__` never resolve. */
export function lookupPath(root: unknown, path: readonly string[]): { found: true; value: unknown } | { found: false } {
  let current: unknown = root;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return { found: false };
    if (Array.isArray(current)) {
      if (!INDEX.test(segment)) return { found: false };
      const index = Number(segment);
      if (index >= current.length) return { found: false };
      current = current[index];
    } else {
      if (!Object.prototype.hasOwnProperty.call(current, segment)) return { found: false };
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return { found: true, value: current };
}

/** How a value is written into text: strings as they are, null as nothing, other values as JSON. */
export function stringifyValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

/** Renders a parsed template; a path that does not resolve is an error naming it (never silently empty). */
export function renderTemplate(template: ParsedTemplate, variables: Readonly<Record<string, unknown>>): string {
  let out = "";
  for (const part of template.parts) {
    if (part.kind === "text") {
      out += part.text;
      continue;
    }
    const found = lookupPath(variables, part.path);
    if (!found.found) throw new TemplateError(`template variable '${quote(part.source)}' has no value in this run`);
    out += stringifyValue(found.value);
  }
  return out;
}
