// Feature sets: browse their definitions and try ProcessFeatures on typed input.
import { FeatureType, FeatureTypeSchema, type FeatureValue } from "../../../clients/typescript/src/gen/openloop/feature/v1/feature_value_pb.js";
import type { FeatureDefinition, FeatureSet, Transformer, Validator } from "../../../clients/typescript/src/gen/openloop/feature/v1/feature_service_pb.js";
import type { Api } from "../api.js";
import { facts, field, h, replace, table } from "../dom.js";
import { featureValueType, formatFeatureValue, parseFeatureValue } from "../feature-value.js";
import type { Page } from "../page.js";
import { breadcrumb, busy, enumLabel, errorBox, loading, pageHeading, timeEl } from "../ui.js";

export const featuresPage: Page = (main, ctx) => {
  const [name] = ctx.params;
  if (name) setView(main, ctx.api, name, ctx.signal);
  else listView(main, ctx.api, ctx.signal);
};

function listView(main: HTMLElement, api: Api, signal: AbortSignal): void {
  const body = h("div", null, loading("feature sets"));
  replace(main, pageHeading("Feature sets", "Typed features with validators and transformers, served from the feature store."), body);
  (async () => {
    const sets: FeatureSet[] = [];
    let pageToken = "";
    do {
      const res = await api.feature.listFeatureSets({ pageSize: 200, pageToken }, { signal });
      sets.push(...res.featureSets);
      pageToken = res.nextPageToken;
    } while (pageToken && sets.length < 2000);
    replace(
      body,
      sets.length === 0
        ? h("p", { class: "muted" }, "No feature sets yet. Create one with FeatureService.CreateFeatureSet.")
        : table(
            "Feature sets",
            ["Name", "Features", "Default TTL", "Created", "Description"],
            sets.map((s) => [
              h("a", { href: `#/features/${encodeURIComponent(s.name)}` }, s.name),
              String(s.features.length),
              formatTtl(s),
              timeEl(s.createTime),
              s.description,
            ]),
          ),
    );
  })().catch((err: unknown) => replace(body, errorBox(err, "Listing feature sets")));
}

function setView(main: HTMLElement, api: Api, name: string, signal: AbortSignal): void {
  const body = h("div", null, loading("the feature set"));
  replace(main, breadcrumb("#/features", "Feature sets", name), pageHeading(name), body);
  api.feature.getFeatureSet({ name }, { signal }).then(
    (res) => {
      const set = res.featureSet;
      if (!set) return replace(body, h("p", null, "The server returned no feature set."));
      replace(
        body,
        set.description ? h("p", null, set.description) : null,
        facts([
          ["Features", String(set.features.length)],
          ["Default TTL", formatTtl(set)],
          ["Created", timeEl(set.createTime)],
        ]),
        table(
          "Features",
          ["Name", "Type", "Required", "Default", "Validators", "Transformers", "Description"],
          set.features.map((f) => [
            h("code", null, f.name),
            enumLabel(FeatureTypeSchema, f.type),
            f.required ? "yes" : "no",
            f.defaultValue ? formatFeatureValue(f.defaultValue) : "",
            list(f.validators.map(describeValidator)),
            list(f.transformers.map(describeTransformer)),
            f.description,
          ]),
        ),
        processForm(api, set, signal),
      );
    },
    (err: unknown) => replace(body, errorBox(err, "Reading the feature set")),
  );
}

function processForm(api: Api, set: FeatureSet, signal: AbortSignal): HTMLElement {
  const inputs = new Map<string, { def: FeatureDefinition; control: HTMLInputElement | HTMLSelectElement }>();
  const fields = set.features.map((def) => {
    const control = controlFor(def);
    inputs.set(def.name, { def, control });
    return field(`${def.name} (${enumLabel(FeatureTypeSchema, def.type)}${def.required ? ", required" : ""})`, control, hintFor(def));
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Process features");
  const result = h("div", { class: "process-result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "process-title", novalidate: true },
    h("h2", { id: "process-title" }, "Try ProcessFeatures"),
    h("p", { class: "hint" }, "Empty fields are sent as missing. The server validates, fills defaults and applies the transformers."),
    h("div", { class: "grid" }, fields),
    h("div", { class: "actions" }, submit),
    result,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const features: Record<string, FeatureValue> = {};
    const problems: string[] = [];
    for (const [name, { def, control }] of inputs) {
      control.removeAttribute("aria-invalid");
      const raw = control.value;
      if (def.type === FeatureType.STRING ? raw === "" : raw.trim() === "") continue;
      try {
        features[name] = parseFeatureValue(def.type, control.value);
      } catch (err) {
        control.setAttribute("aria-invalid", "true");
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) {
      replace(result, h("div", { class: "error", role: "alert" }, h("p", null, "Fix these fields first:"), h("ul", null, problems.map((p) => h("li", null, p)))));
      return;
    }
    void busy(submit, async () => {
      try {
        const res = await api.feature.processFeatures({ featureSet: set.name, features }, { signal });
        // Declaration order first, then anything else the server returned.
        const declared = set.features.map((f) => f.name).filter((n) => n in res.features);
        const names = [...declared, ...Object.keys(res.features).filter((n) => !declared.includes(n)).sort()];
        replace(
          result,
          table("Processed features", ["Feature", "Type", "Value"], names.map((n) => [h("code", null, n), featureValueType(res.features[n]), h("code", null, formatFeatureValue(res.features[n]))])),
        );
      } catch (err) {
        replace(result, errorBox(err, "ProcessFeatures"));
      }
    });
  });
  return form;
}

function controlFor(def: FeatureDefinition): HTMLInputElement | HTMLSelectElement {
  if (def.type === FeatureType.BOOL) {
    return h("select", { name: def.name }, h("option", { value: "" }, "(missing)"), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
  }
  const numeric = def.type === FeatureType.DOUBLE || def.type === FeatureType.INT64;
  return h("input", {
    name: def.name,
    type: "text",
    inputmode: numeric ? (def.type === FeatureType.INT64 ? "numeric" : "decimal") : undefined,
    autocomplete: "off",
    spellcheck: "false",
  });
}

function hintFor(def: FeatureDefinition): string | undefined {
  switch (def.type) {
    case FeatureType.DOUBLE_LIST:
    case FeatureType.INT64_LIST:
    case FeatureType.STRING_LIST:
    case FeatureType.BOOL_LIST:
      return "Comma-separated";
    default:
      return def.description || undefined;
  }
}

function list(items: string[]): HTMLElement | string {
  return items.length ? h("ul", { class: "plain" }, items.map((i) => h("li", null, i))) : "";
}

function bounds(min: number | undefined, max: number | undefined): string {
  return `[${min ?? "−∞"}, ${max ?? "∞"}]`;
}

function describeValidator(v: Validator): string {
  const k = v.kind;
  switch (k.case) {
    case "range":
      return `range ${bounds(k.value.min, k.value.max)}`;
    case "allowedValues":
      return `one of ${k.value.values.map(formatFeatureValue).join(", ")}`;
    case "pattern":
      return `matches /${k.value.regex}/`;
    case "listLength":
      return `length ${bounds(k.value.min, k.value.max)}`;
    default:
      return "unknown validator";
  }
}

function describeTransformer(t: Transformer): string {
  const k = t.kind;
  switch (k.case) {
    case "standardize":
      return `standardize (mean ${k.value.mean}, std ${k.value.std})`;
    case "minMaxScale":
      return `min-max scale [${k.value.min}, ${k.value.max}]`;
    case "log1p":
      return "log1p";
    case "clip":
      return `clip ${bounds(k.value.min, k.value.max)}`;
    case "bucketize":
      return `bucketize at ${k.value.boundaries.join(", ")}`;
    case "oneHot":
      return `one-hot over ${k.value.vocabulary.join(", ")}${k.value.unknownSlot ? " + unknown" : ""}`;
    case "hashBucket":
      return `hash into ${k.value.numBuckets} buckets`;
    case "fillMissing":
      return `fill missing with ${formatFeatureValue(k.value.value)}`;
    default:
      return "unknown transformer";
  }
}

function formatTtl(set: FeatureSet): string {
  const d = set.defaultTtl;
  if (!d) return "1 h (default)";
  const s = Number(d.seconds) + d.nanos / 1e9;
  if (s === 0) return "never expires";
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
