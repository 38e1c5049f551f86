// Checks a feature-set definition (reporting every problem) and compiles it into
// closures, so processing a request walks prepared validators and transformers
// instead of re-reading the definition.
import { fnv1a32 } from "./hash.js";
import type { FeatureDefinition, FeatureSetDefinition, TransformerSpec, ValidatorSpec } from "./definition.js";
import { DEFAULT_TTL_MS, FEATURE_NAME_PATTERN, MAX_TTL_MS, SET_NAME_PATTERN } from "./definition.js";
import type { FeatureType, Features, Scalar, Value } from "./value.js";
import { elementType, formatScalar, formatValue, hasNonFinite, isListType, isNumericType } from "./value.js";
import { compileUserRegex, RegexTimeoutError } from "../platform/user-regex.js";
import { quote } from "../platform/errors.js";

/**
 * A pattern is a unicode ("u") expression. On text without surrogate pairs (no characters
 * outside the BMP) it matches the same without the flag, and then runs on V8's linear-time
 * engine; other text, and patterns that need unicode syntax, run under the time limit.
 */
function compilePattern(regex: string): (text: string) => boolean {
  const unicode = compileUserRegex(`^(?:${regex})$`, "u");
  if (/\\[pP]\{|\\u\{|[\uD800-\uDFFF]/.test(regex)) return (text) => unicode.test(text);
  const linear = compileUserRegex(`^(?:${regex})$`);
  return (text) => (SURROGATE.test(text) ? unicode : linear).test(text);
}

const SURROGATE = /[\uD800-\uDFFF]/;

export interface FeatureLimits {
  /** Most features a set declares, and most features one entity carries. */
  readonly maxFeaturesPerEntity: number;
  /** Most elements in a list value (and in a one-hot vocabulary or bucket boundaries). */
  readonly maxListLength: number;
  /** Longest string value, in UTF-16 code units. */
  readonly maxStringLength: number;
}

/** One problem with one input feature. */
export interface Violation {
  readonly field: string;
  readonly description: string;
}

export type ProcessResult = { readonly ok: true; readonly features: Features } | { readonly ok: false; readonly violations: Violation[] };

/** Embeds texts with a model (LLMService.Embed): one vector per text, in order. */
export type Embedder = (model: string, texts: string[], dimensions: number | undefined) => Promise<number[][]>;

/** A feature whose steps stopped at an embed step, waiting for its text's vector. */
interface PendingEmbedding {
  readonly f: CompiledFeature;
  readonly text: string;
  /** Index of the embed step. */
  readonly at: number;
}

type Check = (v: Value) => string | undefined;
type Apply = (v: Value) => Value | string;

interface Step {
  readonly label: string;
  /** Set for fill-missing: the value that stands in for a missing one. */
  readonly fill?: Value;
  readonly apply?: Apply;
  /** Set for embed: the string becomes the model's vector (asynchronous, see processWithEmbeddings). */
  readonly embed?: { readonly model: string; readonly dimensions: number | undefined };
}

interface CompiledFeature {
  readonly name: string;
  readonly inputType: FeatureType;
  readonly outputType: FeatureType;
  readonly required: boolean;
  readonly defaultValue: Value | undefined;
  readonly allowNonFinite: boolean;
  readonly checks: readonly Check[];
  readonly steps: readonly Step[];
}

export class CompiledFeatureSet {
  readonly name: string;
  /** TTL for puts that give none: 0 means no expiry. */
  readonly defaultTtlMs: number;
  private readonly features: readonly CompiledFeature[];
  private readonly byName: ReadonlyMap<string, CompiledFeature>;
  /** True when a transformer calls an embedding model: processing then needs an Embedder. */
  readonly embeds: boolean;

  constructor(
    readonly definition: FeatureSetDefinition,
    features: readonly CompiledFeature[],
    private readonly limits: FeatureLimits,
  ) {
    this.name = definition.name;
    this.defaultTtlMs = definition.defaultTtlMs ?? DEFAULT_TTL_MS;
    this.features = features;
    this.byName = new Map(features.map((f) => [f.name, f]));
    this.embeds = features.some((f) => f.steps.some((s) => s.embed));
  }

  hasFeature(name: string): boolean {
    return this.byName.has(name);
  }

  /** Validates input features, then transforms them. Reports every violation, by feature. Sets that embed need processWithEmbeddings. */
  process(input: Features): ProcessResult {
    const { violations, out, pending } = this.run(input);
    for (const p of pending) violations.push({ field: p.f.name, description: `${p.f.steps[p.at].label}: this server cannot reach LLMService to embed` });
    return violations.length > 0 ? { ok: false, violations } : { ok: true, features: out };
  }

  /** process(), with the texts of embed transformers embedded by `embed`: one call per model. */
  async processWithEmbeddings(input: Features, embed: Embedder): Promise<ProcessResult> {
    const { violations, out, pending } = this.run(input);
    if (violations.length > 0) return { ok: false, violations };
    const byModel = new Map<string, PendingEmbedding[]>();
    for (const p of pending) {
      const { model, dimensions } = p.f.steps[p.at].embed!;
      const key = `${model}\u0000${dimensions ?? ""}`;
      let group = byModel.get(key);
      if (!group) byModel.set(key, (group = []));
      group.push(p);
    }
    await Promise.all(
      [...byModel.values()].map(async (group) => {
        const { model, dimensions } = group[0].f.steps[group[0].at].embed!;
        const vectors = await embed(model, group.map((p) => p.text), dimensions);
        group.forEach((p, i) => {
          const vector = vectors[i] ?? [];
          if (vector.length > this.limits.maxListLength) {
            violations.push({ field: p.f.name, description: `${p.f.steps[p.at].label}: a vector of ${vector.length} exceeds the limit max_list_length=${this.limits.maxListLength}` });
            return;
          }
          // An embed step takes a string and gives a double list, so no second embed can follow.
          this.finishFeature(p.f, { type: "double_list", value: vector }, p.at + 1, out, violations);
        });
      }),
    );
    return violations.length > 0 ? { ok: false, violations } : { ok: true, features: out };
  }

  /** Checks and transforms every feature, up to any embed step (those are left pending). */
  private run(input: Features): { violations: Violation[]; out: Features; pending: PendingEmbedding[] } {
    const violations: Violation[] = [];
    const out: Features = new Map();
    const pending: PendingEmbedding[] = [];
    const misfits = this.checkShape(input, violations, "inputType");
    if (misfits === undefined) return { violations, out, pending };
    for (const f of this.features) {
      if (misfits.has(f.name)) continue;
      const v = input.get(f.name) ?? f.defaultValue;
      if (v === undefined) {
        if (f.required) violations.push({ field: f.name, description: `required ${f.inputType} feature is missing` });
      } else if (!this.checkValue(f, v, violations)) {
        continue;
      }
      const stop = this.finishFeature(f, v, 0, out, violations);
      if (stop !== undefined) pending.push({ f, text: stop.text, at: stop.at });
    }
    return { violations, out, pending };
  }

  /** Runs f's steps from `from` on v and stores the result in `out`; stops at an embed step and says where. */
  private finishFeature(f: CompiledFeature, value: Value | undefined, from: number, out: Features, violations: Violation[]): { text: string; at: number } | undefined {
    let v = value;
    for (let i = from; i < f.steps.length; i++) {
      const step = f.steps[i];
      if (step.fill !== undefined) {
        v ??= step.fill;
      } else if (v !== undefined) {
        if (step.embed) return { text: v.value as string, at: i };
        const r = step.apply!(v);
        if (typeof r === "string") {
          violations.push({ field: f.name, description: `${step.label}: ${r}` });
          return undefined;
        }
        v = r;
      }
    }
    if (v === undefined) return undefined;
    if (!f.allowNonFinite && hasNonFinite(v)) {
      violations.push({ field: f.name, description: `transformers produced a non-finite value ${formatValue(v)}; adjust the transformers or set allow_non_finite` });
      return undefined;
    }
    out.set(f.name, v);
    return undefined;
  }

  /**
   * Checks already-processed features for storing as they are: known names, the
   * output type of each feature, finite numbers, and size limits. Validators and
   * transformers are not applied.
   */
  checkProcessed(input: Features): Violation[] {
    const violations: Violation[] = [];
    const misfits = this.checkShape(input, violations, "outputType");
    if (misfits === undefined) return violations;
    for (const [name, v] of input) {
      const f = this.byName.get(name);
      if (f === undefined || misfits.has(name)) continue;
      if (!f.allowNonFinite && hasNonFinite(v)) violations.push({ field: name, description: `${formatValue(v)} is not finite; NaN and infinities need allow_non_finite` });
    }
    return violations;
  }

  /**
   * Unknown names, wrong types, and limits on count, list length and string length.
   * Returns the names of the features that failed (which are not looked at further),
   * or undefined when there are too many features to look at any.
   */
  private checkShape(input: Features, violations: Violation[], typeOf: "inputType" | "outputType"): Set<string> | undefined {
    const { maxFeaturesPerEntity, maxListLength, maxStringLength } = this.limits;
    if (input.size > maxFeaturesPerEntity) {
      violations.push({ field: "features", description: `${input.size} features exceed the limit max_features_per_entity=${maxFeaturesPerEntity}` });
      return undefined;
    }
    const misfits = new Set<string>();
    const misfit = (field: string, description: string) => {
      violations.push({ field, description });
      misfits.add(field);
    };
    for (const [name, v] of input) {
      const f = this.byName.get(name);
      if (f === undefined) {
        misfit(name, `feature set '${this.name}' declares no feature named '${quote(name)}'`);
        continue;
      }
      const expected = f[typeOf];
      if (v.type !== expected) {
        misfit(name, `expected a ${expected} value, got ${v.type} ${formatValue(v)}`);
        continue;
      }
      if (isListType(v.type) && (v.value as readonly unknown[]).length > maxListLength) {
        misfit(name, `list of ${(v.value as readonly unknown[]).length} elements exceeds the limit max_list_length=${maxListLength}`);
      }
      if (v.type === "string" && v.value.length > maxStringLength) {
        misfit(name, `string of ${v.value.length} characters exceeds the limit max_string_length=${maxStringLength}`);
      } else if (v.type === "string_list" && v.value.some((s) => s.length > maxStringLength)) {
        misfit(name, `a string element exceeds the limit max_string_length=${maxStringLength}`);
      }
    }
    return misfits;
  }

  /** Finiteness and validators on a value of the right type; true when it passed. */
  private checkValue(f: CompiledFeature, v: Value, violations: Violation[]): boolean {
    const before = violations.length;
    if (!f.allowNonFinite && hasNonFinite(v)) {
      violations.push({ field: f.name, description: `${formatValue(v)} is not finite; NaN and infinities need allow_non_finite` });
    }
    for (const check of f.checks) {
      const problem = check(v);
      if (problem !== undefined) violations.push({ field: f.name, description: problem });
    }
    return violations.length === before;
  }
}

/** A problem in a definition: `field` is its path in the FeatureSet message ("features[2].transformers[0]"). */
export type CompileResult = { readonly ok: true; readonly set: CompiledFeatureSet } | { readonly ok: false; readonly problems: Violation[] };

/** Checks a definition and compiles it; every problem is reported, not just the first. */
export function compileFeatureSet(def: FeatureSetDefinition, limits: FeatureLimits): CompileResult {
  const problems: Violation[] = [];
  const top = (field: string, description: string) => problems.push({ field, description });
  if (!SET_NAME_PATTERN.test(def.name)) {
    top("name", `name must be 1-64 characters of [a-z0-9_-] starting with a letter or digit, got '${quote(def.name)}'`);
  }
  if (def.description.length > 2048) top("description", `description has ${def.description.length} characters; the limit is 2048`);
  if (def.defaultTtlMs !== undefined && !(def.defaultTtlMs >= 0 && def.defaultTtlMs <= MAX_TTL_MS)) {
    top("default_ttl", `default_ttl must be zero (no expiry) or positive, up to 100 years, got ${def.defaultTtlMs} ms`);
  }
  if (def.features.length === 0) top("features", "a feature set needs at least one feature");
  if (def.features.length > limits.maxFeaturesPerEntity) {
    top("features", `${def.features.length} features exceed the limit max_features_per_entity=${limits.maxFeaturesPerEntity}`);
  }
  const seen = new Set<string>();
  const compiled: CompiledFeature[] = [];
  def.features.forEach((f, i) => {
    const who = FEATURE_NAME_PATTERN.test(f.name) ? `feature '${f.name}': ` : "";
    const report = (p: string, at = "") => problems.push({ field: `features[${i}]${at}`, description: `${who}${p}` });
    if (!FEATURE_NAME_PATTERN.test(f.name)) report(`name must be 1-64 characters of [A-Za-z0-9_.-], got '${quote(f.name)}'`, ".name");
    else if (seen.has(f.name)) report(`duplicate feature name '${quote(f.name)}'`, ".name");
    seen.add(f.name);
    const feature = compileFeature(f, limits, report);
    if (feature) compiled.push(feature);
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, set: new CompiledFeatureSet(def, compiled, limits) };
}

function compileFeature(f: FeatureDefinition, limits: FeatureLimits, report: (p: string, at?: string) => void): CompiledFeature | undefined {
  if (f.type === undefined) {
    report("type must be set (double, int64, string, bool, or a list of those)", ".type");
    return undefined;
  }
  const type = f.type;
  const checks: Check[] = [];
  f.validators.forEach((spec, i) => {
    const check = compileValidator(spec, type, limits, (p) => report(p, `.validators[${i}]`));
    if (check) checks.push(check);
  });
  const steps: Step[] = [];
  let current: FeatureType = type;
  f.transformers.forEach((spec, i) => {
    const step = compileTransformer(spec, current, limits, (p) => report(`${spec.kind}: ${p}`, `.transformers[${i}]`));
    if (step) {
      steps.push(step.step);
      current = step.outType;
    }
  });
  if (f.defaultValue !== undefined) {
    if (f.defaultValue.type !== type) {
      report(`default_value is a ${f.defaultValue.type}, the feature is ${type}`, ".default_value");
    } else {
      if (!f.allowNonFinite && hasNonFinite(f.defaultValue)) report(`default_value ${formatValue(f.defaultValue)} is not finite`, ".default_value");
      for (const check of checks) {
        const p = check(f.defaultValue);
        if (p !== undefined) report(`default_value fails its own validators: ${p}`, ".default_value");
      }
    }
  }
  if (f.description.length > 2048) report(`description has ${f.description.length} characters; the limit is 2048`, ".description");
  return {
    name: f.name,
    inputType: type,
    outputType: current,
    required: f.required,
    defaultValue: f.defaultValue,
    allowNonFinite: f.allowNonFinite,
    checks,
    steps,
  };
}

function compileValidator(spec: ValidatorSpec, type: FeatureType, limits: FeatureLimits, report: (p: string) => void): Check | undefined {
  switch (spec.kind) {
    case "unset":
      report("no validator kind set (known: range, allowed_values, pattern, list_length)");
      return undefined;
    case "range": {
      const { min, max } = spec;
      if (!isNumericType(type)) return void report(`range applies to numeric features, not ${type}`);
      if (Number.isNaN(min) || Number.isNaN(max)) return void report("range bounds must not be NaN");
      if (min !== undefined && max !== undefined && min > max) return void report(`range min ${min} is above max ${max}`);
      if (min === undefined && max === undefined) return void report("range needs min, max or both");
      return eachElement(type, (x) => {
        if (min !== undefined && (x as number) < min) return `${formatScalar(x)} is below the minimum ${min}`;
        if (max !== undefined && (x as number) > max) return `${formatScalar(x)} is above the maximum ${max}`;
        return undefined;
      });
    }
    case "allowedValues": {
      const scalar = elementType(type);
      if (spec.values.length === 0) return void report("allowed_values needs at least one value");
      if (spec.values.length > limits.maxListLength) return void report(`${spec.values.length} allowed values exceed the limit max_list_length=${limits.maxListLength}`);
      const allowed = new Set<Scalar>();
      let bad = false;
      spec.values.forEach((v, i) => {
        if (v === undefined || v.type !== scalar) {
          bad = true;
          report(`allowed_values.values[${i}] must be a ${scalar}, got ${v === undefined ? "nothing" : v.type}`);
        } else {
          allowed.add(v.value as Scalar);
        }
      });
      if (bad) return undefined;
      const shown = [...allowed].slice(0, 10).map(formatScalar).join(", ") + (allowed.size > 10 ? ", …" : "");
      return eachElement(type, (x) => (allowed.has(x) ? undefined : `${formatScalar(x)} is not one of the allowed values (${shown})`));
    }
    case "pattern": {
      if (elementType(type) !== "string") return void report(`pattern applies to string features, not ${type}`);
      if (spec.regex.length > 1000) return void report(`regex has ${spec.regex.length} characters; the limit is 1000`);
      let matches: (text: string) => boolean;
      try {
        matches = compilePattern(spec.regex);
      } catch (err) {
        return void report(`invalid regular expression /${quote(spec.regex)}/: ${(err as Error).message}`);
      }
      return eachElement(type, (x) => {
        try {
          return matches(x as string) ? undefined : `${formatScalar(x)} does not match the pattern /${quote(spec.regex)}/`;
        } catch (err) {
          if (err instanceof RegexTimeoutError) return err.rawMessage;
          throw err;
        }
      });
    }
    case "listLength": {
      const { min, max } = spec;
      if (!isListType(type)) return void report(`list_length applies to list features, not ${type}`);
      if (min !== undefined && max !== undefined && min > max) return void report(`list_length min ${min} is above max ${max}`);
      if (min === undefined && max === undefined) return void report("list_length needs min, max or both");
      return (v) => {
        const n = (v.value as readonly unknown[]).length;
        if (min !== undefined && n < min) return `list has ${n} elements, fewer than the minimum ${min}`;
        if (max !== undefined && n > max) return `list has ${n} elements, more than the maximum ${max}`;
        return undefined;
      };
    }
  }
}

/** Runs an element check on a scalar, or on every list element; reports the first failure and how many failed. */
function eachElement(type: FeatureType, check: (x: Scalar) => string | undefined): Check {
  if (!isListType(type)) return (v) => check(v.value as Scalar);
  return (v) => {
    const items = v.value as readonly Scalar[];
    let first: string | undefined;
    let failed = 0;
    for (let i = 0; i < items.length; i++) {
      const p = check(items[i]);
      if (p !== undefined) {
        failed++;
        first ??= `element ${i}: ${p}`;
      }
    }
    if (first === undefined) return undefined;
    return failed > 1 ? `${first} (${failed} of ${items.length} elements fail)` : first;
  };
}

interface CompiledStep {
  readonly step: Step;
  readonly outType: FeatureType;
}

function compileTransformer(spec: TransformerSpec, t: FeatureType, limits: FeatureLimits, report: (p: string) => void): CompiledStep | undefined {
  const label = `transformer ${spec.kind}`;
  const numeric = () => {
    if (isNumericType(t)) return true;
    report(`applies to numeric features (double, int64 and their lists), not ${t}`);
    return false;
  };
  switch (spec.kind) {
    case "unset":
      report("no transformer kind set (known: standardize, min_max_scale, log1p, clip, bucketize, one_hot, hash_bucket, fill_missing, embed)");
      return undefined;
    case "standardize": {
      const { mean, std } = spec;
      if (!numeric()) return undefined;
      if (!Number.isFinite(mean)) return void report(`mean must be finite, got ${mean}`);
      if (!(std > 0 && Number.isFinite(std))) return void report(`std must be > 0 and finite, got ${std}`);
      return toDouble(t, label, (x) => (x - mean) / std);
    }
    case "minMaxScale": {
      const { min, max } = spec;
      if (!numeric()) return undefined;
      if (!Number.isFinite(min) || !Number.isFinite(max)) return void report(`min and max must be finite, got ${min} and ${max}`);
      if (!(max > min)) return void report(`max must be greater than min, got min ${min} and max ${max}`);
      const range = max - min;
      return toDouble(t, label, (x) => (x - min) / range);
    }
    case "log1p":
      if (!numeric()) return undefined;
      return toDouble(t, label, Math.log1p, (x) => (x <= -1 ? `log1p needs values above -1, got ${x}` : undefined));
    case "clip": {
      const { min, max } = spec;
      if (!numeric()) return undefined;
      if (min === undefined && max === undefined) return void report("clip needs min, max or both");
      if ((min !== undefined && !Number.isFinite(min)) || (max !== undefined && !Number.isFinite(max))) return void report("clip bounds must be finite");
      if (min !== undefined && max !== undefined && min > max) return void report(`min ${min} is above max ${max}`);
      if (elementType(t) === "int64") {
        const lo = min === undefined ? undefined : BigInt(Math.ceil(min));
        const hi = max === undefined ? undefined : BigInt(Math.floor(max));
        if (lo !== undefined && hi !== undefined && lo > hi) return void report(`no integer lies in [${min}, ${max}]`);
        const clip = (x: bigint) => (lo !== undefined && x < lo ? lo : hi !== undefined && x > hi ? hi : x);
        return { outType: t, step: { label, apply: mapElements(t, t, (x) => clip(x as bigint)) } };
      }
      const lo = min ?? -Infinity;
      const hi = max ?? Infinity;
      return { outType: t, step: { label, apply: mapElements(t, t, (x) => Math.min(Math.max(x as number, lo), hi)) } };
    }
    case "bucketize": {
      const b = spec.boundaries;
      if (!numeric()) return undefined;
      if (b.length === 0) return void report("boundaries must not be empty");
      if (b.length > limits.maxListLength) return void report(`${b.length} boundaries exceed the limit max_list_length=${limits.maxListLength}`);
      for (let i = 0; i < b.length; i++) {
        if (!Number.isFinite(b[i])) return void report(`boundaries[${i}] must be finite, got ${b[i]}`);
        if (i > 0 && !(b[i] > b[i - 1])) return void report(`boundaries must be strictly increasing, but boundaries[${i}]=${b[i]} follows ${b[i - 1]}`);
      }
      const bucket = (x: number): bigint | string => {
        if (Number.isNaN(x)) return "cannot bucketize NaN";
        let lo = 0;
        let hi = b.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (b[mid] <= x) lo = mid + 1;
          else hi = mid;
        }
        return BigInt(lo);
      };
      const out: FeatureType = isListType(t) ? "int64_list" : "int64";
      return { outType: out, step: { label, apply: mapElementsChecked(t, out, (x) => bucket(Number(x))) } };
    }
    case "oneHot": {
      const { vocabulary, unknownSlot } = spec;
      if (elementType(t) !== "string") return void report(`applies to string and string_list features, not ${t}`);
      if (vocabulary.length === 0) return void report("vocabulary must not be empty");
      const width = vocabulary.length + (unknownSlot ? 1 : 0);
      if (width > limits.maxListLength) return void report(`${width} output slots exceed the limit max_list_length=${limits.maxListLength}`);
      const index = new Map<string, number>();
      for (let i = 0; i < vocabulary.length; i++) {
        if (index.has(vocabulary[i])) return void report(`vocabulary has ${formatScalar(vocabulary[i])} twice`);
        index.set(vocabulary[i], i);
      }
      const slotOf = (s: string): number | string => {
        const i = index.get(s);
        if (i !== undefined) return i;
        return unknownSlot ? vocabulary.length : `${formatScalar(s)} is not in the vocabulary of ${vocabulary.length} values (set unknown_slot to accept it)`;
      };
      const apply: Apply = (v) => {
        const out = new Array<number>(width).fill(0);
        for (const s of (isListType(v.type) ? v.value : [v.value]) as readonly string[]) {
          const slot = slotOf(s);
          if (typeof slot === "string") return slot;
          out[slot] = 1;
        }
        return { type: "double_list", value: out };
      };
      return { outType: "double_list", step: { label, apply } };
    }
    case "hashBucket": {
      const n = spec.numBuckets;
      const el = elementType(t);
      if (el !== "string" && el !== "int64") return void report(`applies to string and int64 features (and their lists), not ${t}`);
      if (!(Number.isInteger(n) && n >= 1 && n <= 0xffffffff)) return void report(`num_buckets must be an integer from 1 to 4294967295, got ${n}`);
      const out: FeatureType = isListType(t) ? "int64_list" : "int64";
      return { outType: out, step: { label, apply: mapElements(t, out, (x) => BigInt(fnv1a32(typeof x === "string" ? x : String(x)) % n)) } };
    }
    case "embed": {
      if (t !== "string") return void report(`applies to string features, not ${t}`);
      if (spec.model === "") return void report("model must be set: an LLMService model with embeddings");
      if (spec.dimensions !== undefined && !(spec.dimensions >= 1 && spec.dimensions <= limits.maxListLength)) {
        return void report(`dimensions must be 1-${limits.maxListLength} (max_list_length), got ${spec.dimensions}`);
      }
      return { outType: "double_list", step: { label, embed: { model: spec.model, dimensions: spec.dimensions } } };
    }
    case "fillMissing": {
      const v = spec.value;
      if (v === undefined) return void report("value must be set");
      if (v.type !== t) return void report(`value is a ${v.type}, but the feature is a ${t} at this step`);
      return { outType: t, step: { label, fill: v } };
    }
  }
}

/** A numeric transformer: numbers (and numeric lists) become doubles (double lists). */
function toDouble(t: FeatureType, label: string, f: (x: number) => number, check?: (x: number) => string | undefined): CompiledStep {
  const out: FeatureType = isListType(t) ? "double_list" : "double";
  const apply = check
    ? mapElementsChecked(t, out, (x) => check(Number(x)) ?? f(Number(x)))
    : mapElements(t, out, (x) => f(Number(x)));
  return { outType: out, step: { label, apply } };
}

function mapElements(from: FeatureType, to: FeatureType, f: (x: Scalar) => Scalar): Apply {
  if (!isListType(from)) return (v) => ({ type: to, value: f(v.value as Scalar) }) as Value;
  return (v) => ({ type: to, value: (v.value as readonly Scalar[]).map(f) }) as Value;
}

/** Like mapElements, but an element may fail with a message (a string result for numeric outputs). */
function mapElementsChecked(from: FeatureType, to: FeatureType, f: (x: Scalar) => Scalar): Apply {
  const failed = (r: Scalar) => typeof r === "string";
  if (!isListType(from)) {
    return (v) => {
      const r = f(v.value as Scalar);
      return failed(r) ? (r as string) : ({ type: to, value: r } as Value);
    };
  }
  return (v) => {
    const items = v.value as readonly Scalar[];
    const out = new Array<Scalar>(items.length);
    for (let i = 0; i < items.length; i++) {
      const r = f(items[i]);
      if (failed(r)) return `element ${i}: ${r as string}`;
      out[i] = r;
    }
    return { type: to, value: out } as Value;
  };
}


