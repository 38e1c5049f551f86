// Validation of every name that becomes part of a storage path or key: model names,
// versions, aliases, artifact names, model types, tags and metadata keys.
// Each check returns the cleaned value or throws a ValidationError that states the allowed set.
import { ValidationError } from "./errors.js";
import { isVersion, parseVersion } from "./version-order.js";
import { quote } from "../platform/errors.js";

/** Model names: 1-64 chars, lowercase letters, digits, '.', '_', '-'; starts with a letter or digit; no "..". */
export const MODEL_NAME_RULE = "1-64 chars of [a-z0-9._-], starting with a letter or digit, without '..' and not ending in '.'";
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Aliases: like model names but must start with a letter, so they never look like a version. */
export const ALIAS_RULE = "1-64 chars of [a-z0-9._-], starting with a letter (so it never looks like a version), without '..', not ending in '.', and not 'latest'";
const ALIAS = /^[a-z][a-z0-9._-]{0,63}$/;

/** Artifact names: file names; case is kept but two artifacts of one version may not differ only by case. */
export const ARTIFACT_NAME_RULE = "1-128 chars of [A-Za-z0-9._-], starting with a letter or digit, without '..' and not ending in '.'";
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Model types: one of the well-known ones (gguf, linear, onnx, pytorch, tensorflow) or any short token. */
export const MODEL_TYPE_RULE = "1-64 chars of [a-z0-9._+-], starting with a letter or digit (e.g. gguf, linear, onnx, pytorch, tensorflow)";
const MODEL_TYPE = /^[a-z0-9][a-z0-9._+-]{0,63}$/;

/** Tags: short labels. */
export const TAG_RULE = "1-64 chars of [A-Za-z0-9._:/=-], starting with a letter or digit";
const TAG = /^[A-Za-z0-9][A-Za-z0-9._:/=-]{0,63}$/;

/** Metadata keys. */
export const METADATA_KEY_RULE = "1-128 chars of [A-Za-z0-9._:/-], starting with a letter or digit";
const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** The alias name that always means "the newest version"; it cannot be set. */
export const LATEST = "latest";

export const LIMITS = {
  maxTags: 64,
  maxMetadataEntries: 128,
  maxMetadataValueBytes: 4096,
  maxDescriptionBytes: 16 * 1024,
  maxProducerBytes: 1024,
  maxArtifactsPerVersion: 64,
} as const;

function show(value: string): string {
  return JSON.stringify(quote(value));
}

function checkPathToken(value: string, re: RegExp, what: string, rule: string): string {
  if (!re.test(value) || value.includes("..") || value.endsWith(".")) {
    throw new ValidationError(`${what} must be ${rule}, got ${show(value)}`);
  }
  return value;
}

export function validateModelName(name: string): string {
  if (name === "") throw new ValidationError(`model name is required: ${MODEL_NAME_RULE}`);
  return checkPathToken(name, MODEL_NAME, "model name", MODEL_NAME_RULE);
}

export function validateAlias(alias: string): string {
  if (alias === "") throw new ValidationError(`alias is required: ${ALIAS_RULE}`);
  if (alias === LATEST) throw new ValidationError(`alias 'latest' is reserved (it always means the newest version); choose another: ${ALIAS_RULE}`);
  return checkPathToken(alias, ALIAS, "alias", ALIAS_RULE);
}

export function validateArtifactName(name: string): string {
  if (name === "") throw new ValidationError(`artifact name is required: ${ARTIFACT_NAME_RULE}`);
  return checkPathToken(name, ARTIFACT_NAME, "artifact name", ARTIFACT_NAME_RULE);
}

/** Versions are validated (and canonicalised) by the version grammar; see version-order.ts. */
export function validateVersion(version: string): string {
  return parseVersion(version).text;
}

export function validateModelType(type: string): string {
  if (type === "") throw new ValidationError(`model type is required: ${MODEL_TYPE_RULE}`);
  const t = type.trim().toLowerCase();
  if (!MODEL_TYPE.test(t)) throw new ValidationError(`model type must be ${MODEL_TYPE_RULE}, got ${show(type)}`);
  return t;
}

export function validateTags(tags: readonly string[]): string[] {
  const unique = [...new Set(tags)];
  if (unique.length > LIMITS.maxTags) throw new ValidationError(`at most ${LIMITS.maxTags} tags are allowed, got ${unique.length}`);
  for (const t of unique) {
    if (!TAG.test(t)) throw new ValidationError(`tag must be ${TAG_RULE}, got ${show(t)}`);
  }
  return unique.sort();
}

export function validateMetadata(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const keys = Object.keys(metadata).sort();
  if (keys.length > LIMITS.maxMetadataEntries) {
    throw new ValidationError(`at most ${LIMITS.maxMetadataEntries} metadata entries are allowed, got ${keys.length}`);
  }
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (!METADATA_KEY.test(k)) throw new ValidationError(`metadata key must be ${METADATA_KEY_RULE}, got ${show(k)}`);
    const v = metadata[k]!;
    if (Buffer.byteLength(v) > LIMITS.maxMetadataValueBytes) {
      throw new ValidationError(`metadata value of '${k}' must be at most ${LIMITS.maxMetadataValueBytes} bytes, got ${Buffer.byteLength(v)}`);
    }
    out[k] = v;
  }
  return out;
}

export function validateText(value: string, what: string, maxBytes: number): string {
  const n = Buffer.byteLength(value);
  if (n > maxBytes) throw new ValidationError(`${what} must be at most ${maxBytes} bytes, got ${n}`);
  return value;
}

/** A lowercase hex SHA-256 digest (64 chars), as clients send it; empty means "not given". */
export function validateSha256Hex(value: string, what: string): string | undefined {
  if (value === "") return undefined;
  const v = value.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(v)) throw new ValidationError(`${what} must be 64 hex characters (a SHA-256 digest), got ${show(value)}`);
  return v;
}

/**
 * Parses a model reference: "name", "name@version" or "name@alias" ("name@latest" included).
 * The part after '@' is a version when it parses as one, else an alias. LLM model ids such as
 * `registry:<ref>` use this, then ask GetModelVersion with the matching selector field.
 */
export function parseModelRef(ref: string): { name: string; version?: string; alias?: string } {
  const at = ref.indexOf("@");
  if (at < 0) return { name: validateModelName(ref) };
  const name = validateModelName(ref.slice(0, at));
  const selector = ref.slice(at + 1);
  if (selector === "") throw new ValidationError(`model reference ${show(ref)} has an empty part after '@'; use name, name@version or name@alias`);
  if (isVersion(selector)) return { name, version: selector };
  if (selector === LATEST) return { name, alias: LATEST };
  return { name, alias: validateAlias(selector) };
}
