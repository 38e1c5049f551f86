// Version grammar and ordering, and the name rules, as plain functions.
import { describe, expect, it } from "vitest";
import { parseModelRef, validateAlias, validateArtifactName, validateModelName } from "../../src/registry/names.js";
import { compareVersions, parseVersion, tryParseVersion } from "../../src/registry/version-order.js";

const sorted = (vs: string[]) => [...vs].sort(compareVersions);

describe("version order", () => {
  it("orders integer versions as numbers, not strings", () => {
    expect(sorted(["10", "9", "100", "1", "0", "11"])).toEqual(["0", "1", "9", "10", "11", "100"]);
  });

  it("orders integers beyond 2^53 exactly", () => {
    expect(compareVersions("9007199254740993", "9007199254740992")).toBeGreaterThan(0);
  });

  it("orders semantic versions field by field as numbers", () => {
    expect(sorted(["1.10.0", "1.9.0", "1.9.10", "1.9.9", "2.0.0", "0.99.99", "10.0.0"])).toEqual(["0.99.99", "1.9.0", "1.9.9", "1.9.10", "1.10.0", "2.0.0", "10.0.0"]);
  });

  it("follows the semver 2.0.0 pre-release precedence example", () => {
    // The example of semver.org section 11, shuffled.
    const expected = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"];
    expect(sorted([...expected].reverse())).toEqual(expected);
    expect(sorted(["1.0.0-rc.1", "1.0.0", "1.0.0-beta.11", "1.0.0-alpha", "1.0.0-beta.2", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-alpha.1"])).toEqual(expected);
  });

  it("compares numeric pre-release identifiers numerically and below alphanumeric ones", () => {
    expect(compareVersions("1.0.0-2", "1.0.0-10")).toBeLessThan(0);
    expect(compareVersions("1.0.0-999", "1.0.0-a")).toBeLessThan(0);
    expect(compareVersions("1.0.0-A", "1.0.0-a")).toBeLessThan(0); // ASCII order
  });

  it("treats equal versions as equal", () => {
    expect(compareVersions("1.2.3-rc.1", "1.2.3-rc.1")).toBe(0);
    expect(compareVersions("42", "42")).toBe(0);
  });

  it("accepts integers and semantic versions, and nothing else", () => {
    for (const ok of ["0", "7", "123456789012345678", "0.0.0", "1.10.0", "2.0.0-rc.1", "1.0.0-x-y.0.z"]) expect(tryParseVersion(ok), ok).toBeDefined();
    for (const bad of ["", "01", "1.0", "v1", "1.0.0+b", "1.0.0-01", "1.0.0-", "01.0.0", "1..0", "../1", "1/2", " 1", "1234567890123456789"]) {
      expect(tryParseVersion(bad), bad).toBeUndefined();
    }
    expect(() => parseVersion("1.0.0+build")).toThrow(/build metadata/);
  });
});

describe("name rules", () => {
  it("keep every accepted name a single safe path segment", () => {
    const samples = ["a", "llama-3.1-8b", "x_y", "0", "a.b-c_d"];
    for (const s of samples) expect(validateModelName(s)).toBe(s);
    for (const s of ["..", ".", "a/..", "a/b", "/a", "a\\b", "a..b", "a.", "-a", "_a", "A"]) expect(() => validateModelName(s), s).toThrow(/model name must be/);
    expect(validateArtifactName("Model.Q4_K_M.gguf")).toBe("Model.Q4_K_M.gguf");
    for (const s of ["..", "../x", "x/y", ".x", "x.", "a..gguf"]) expect(() => validateArtifactName(s), s).toThrow(/artifact name must be/);
  });

  it("keep aliases apart from versions and reserve 'latest'", () => {
    expect(validateAlias("champion")).toBe("champion");
    for (const s of ["1", "1.0.0", "9abc", "latest", "Prod", "_x"]) expect(() => validateAlias(s), s).toThrow(/alias/);
  });

  it("parse name@version and name@alias references", () => {
    expect(parseModelRef("llama")).toEqual({ name: "llama" });
    expect(parseModelRef("llama@3")).toEqual({ name: "llama", version: "3" });
    expect(parseModelRef("llama@1.10.0")).toEqual({ name: "llama", version: "1.10.0" });
    expect(parseModelRef("llama@champion")).toEqual({ name: "llama", alias: "champion" });
    expect(parseModelRef("llama@latest")).toEqual({ name: "llama", alias: "latest" });
    expect(() => parseModelRef("llama@")).toThrow(/empty/);
    expect(() => parseModelRef("../x@1")).toThrow(/model name/);
    expect(() => parseModelRef("llama@Bad/alias")).toThrow(/alias/);
  });
});
