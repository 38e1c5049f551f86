// The logic-less template renderer and the text helpers of the built-in steps, tested directly.
import { describe, expect, it } from "vitest";
import { parseTemplate, renderTemplate, TemplateError } from "../../src/pipeline/template.js";
import { redactText, truncateText } from "../../src/pipeline/steps/preprocess.js";
import { extractJson, namedGroups } from "../../src/pipeline/steps/postprocess.js";

const render = (t: string, vars: Record<string, unknown>) => renderTemplate(parseTemplate(t), vars as never);

describe("templates", () => {
  it("renders variables and dotted paths into objects and lists", () => {
    expect(render("Hi {{ user.name }}, item {{items.1.id}}: {{n}}", { user: { name: "Ada" }, items: [{ id: 1 }, { id: 2 }], n: 3 })).toBe("Hi Ada, item 2: 3");
  });

  it("lists the variables a template needs, once each", () => {
    expect(parseTemplate("{{a.b}} {{c}} {{a.d}}").variables).toEqual(["a", "c"]);
  });

  it("writes a literal {{ for \\{{", () => {
    expect(render("\\{{not a tag}} {{x}}", { x: 1 })).toBe("{{not a tag}} 1");
  });

  it("refuses malformed tags with their offset", () => {
    expect(() => parseTemplate("ok {{ }}")).toThrow(TemplateError);
    expect(() => parseTemplate("ok {{a b}}")).toThrow("bad tag '{{a b}}' at offset 3");
    expect(() => parseTemplate("{{a.}}")).toThrow(TemplateError);
    expect(() => parseTemplate("{{x}} {{y")).toThrow("unclosed '{{' at offset 6");
    expect(() => parseTemplate("{{a.constructor()}}")).toThrow(TemplateError);
  });

  it("refuses to render a path with no value instead of writing nothing", () => {
    expect(() => render("{{user.email}}", { user: { name: "x" } })).toThrow("template variable 'user.email' has no value in this run");
    expect(() => render("{{list.5}}", { list: [1] })).toThrow(TemplateError);
  });

  it("never reaches inherited properties such as constructor or __proto__", () => {
    expect(() => render("{{o.constructor}}", { o: {} })).toThrow(TemplateError);
    expect(() => render("{{o.__proto__}}", { o: {} })).toThrow(TemplateError);
    expect(() => render("{{s.length}}", { s: "abc" })).toThrow(TemplateError);
  });
});

describe("text helpers", () => {
  const both = { emails: true, phones: true, replacement: "#" };

  it("redacts common phone formats and leaves other numbers", () => {
    expect(redactText("+1 (415) 555-0100, 0044 20 7946 0958, 555.123.4567", both)).toBe("#, #, #");
    expect(redactText("order 12345, year 2024, 2024-05-01, pi 3.14159265, v1.2.3", both)).toBe("order 12345, year 2024, 2024-05-01, pi 3.14159265, v1.2.3");
  });

  it("redacts numbers inside longer runs and leaves numbers glued to words", () => {
    expect(redactText("call 555 123 4567. Or 555-123-4567x or abc5551234567", both)).toBe("call #. Or 555-123-4567x or abc5551234567");
  });

  it("redacts long adversarial inputs in one pass (no quadratic backtracking)", () => {
    const digits = "1 ".repeat(100_000) + "a";
    expect(redactText(digits, both)).toBe(digits);
    const local = "a".repeat(200_000) + " x";
    expect(redactText(local, both)).toBe(local);
  });

  it("redacts e-mail addresses with subdomains, plus tags and dots", () => {
    expect(redactText("to: first.last+tag@mail.example.co.uk.", both)).toBe("to: #.");
  });

  it("truncates without splitting a surrogate pair", () => {
    expect(truncateText("a😀b", 2)).toBe("a😀");
    expect(truncateText("short", 10)).toBe("short");
  });

  it("extracts the whole text, a fenced block, or the first balanced JSON in prose", () => {
    expect(extractJson('  [1, 2]  ')).toEqual([1, 2]);
    expect(extractJson("```\n{\"a\": 1}\n```")).toEqual({ a: 1 });
    expect(extractJson('see {not json} then {"b": "\\"}"}')).toEqual({ b: '"}' });
    expect(extractJson("just 42")).toBeUndefined();
  });

  it("finds the named groups of a pattern", () => {
    expect(namedGroups("(?<a>x)|(?<b>y)(z)", undefined)).toEqual(["a", "b"]);
    expect(namedGroups("(x)", undefined)).toEqual([]);
  });
});
