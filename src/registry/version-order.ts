// Version grammar and ordering: versions are integers (1, 2, 10) or semantic versions
// (1.9.0, 1.10.0-rc.1), compared as numbers / by semver 2.0.0 precedence, never as strings.
import { ValidationError } from "./errors.js";
import { quote } from "../platform/errors.js";

export const VERSION_RULE =
  "an integer without leading zeros (e.g. 7, at most 18 digits) or a semantic version MAJOR.MINOR.PATCH with an optional -prerelease (e.g. 1.10.0 or 2.0.0-rc.1; no build metadata, at most 64 chars)";

export type VersionScheme = "integer" | "semver";

export interface ParsedVersion {
  readonly text: string;
  readonly scheme: VersionScheme;
  /** integer: [n]; semver: [major, minor, patch]. */
  readonly numbers: readonly bigint[];
  /** semver pre-release identifiers (empty for a release or an integer version). */
  readonly prerelease: readonly (bigint | string)[];
}

const INTEGER = /^(0|[1-9][0-9]{0,17})$/;
const NUM = "(0|[1-9][0-9]*)";
const PRE_ID = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
const SEMVER = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?$`);

export function isVersion(text: string): boolean {
  return tryParseVersion(text) !== undefined;
}

export function tryParseVersion(text: string): ParsedVersion | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  if (INTEGER.test(text)) return { text, scheme: "integer", numbers: [BigInt(text)], prerelease: [] };
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  const prerelease = m[4] === undefined ? [] : m[4].split(".").map((id) => (/^[0-9]+$/.test(id) ? BigInt(id) : id));
  return { text, scheme: "semver", numbers: [BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)], prerelease };
}

export function parseVersion(text: string): ParsedVersion {
  const v = tryParseVersion(text);
  if (!v) {
    const shown = JSON.stringify(quote(text));
    const hint = text.includes("+") ? " (build metadata '+...' is not accepted: it does not take part in ordering)" : "";
    throw new ValidationError(`version must be ${VERSION_RULE}, got ${shown}${hint}`);
  }
  return v;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Total order: within a scheme, numeric / semver precedence; integer versions sort before
 * semantic ones (a model never mixes the two: the registry refuses it).
 * Returns <0 when a is older than b.
 */
export function compareVersions(a: ParsedVersion | string, b: ParsedVersion | string): number {
  const x = typeof a === "string" ? parseVersion(a) : a;
  const y = typeof b === "string" ? parseVersion(b) : b;
  if (x.scheme !== y.scheme) return x.scheme === "integer" ? -1 : 1;
  for (let i = 0; i < x.numbers.length; i++) {
    const c = cmpBig(x.numbers[i]!, y.numbers[i]!);
    if (c !== 0) return c;
  }
  // A release is newer than any of its pre-releases.
  if (x.prerelease.length === 0 && y.prerelease.length === 0) return 0;
  if (x.prerelease.length === 0) return 1;
  if (y.prerelease.length === 0) return -1;
  const n = Math.min(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < n; i++) {
    const p = x.prerelease[i]!;
    const q = y.prerelease[i]!;
    if (typeof p === "bigint" && typeof q === "bigint") {
      const c = cmpBig(p, q);
      if (c !== 0) return c;
    } else if (typeof p === "bigint") {
      return -1; // numeric identifiers have lower precedence than alphanumeric ones
    } else if (typeof q === "bigint") {
      return 1;
    } else if (p !== q) {
      return p < q ? -1 : 1; // ASCII order, as semver specifies
    }
  }
  return cmpBig(BigInt(x.prerelease.length), BigInt(y.prerelease.length));
}
