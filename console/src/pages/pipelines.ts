// Pipelines: list them, read a definition, run one with inputs and watch the stage
// events stream in (ExecutePipelineStream).
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { StageSchema, type Pipeline, type Step } from "../../../clients/typescript/src/gen/openloop/pipeline/v1/pipeline_service_pb.js";
import type { Api } from "../api.js";
import { facts, field, h, replace, table } from "../dom.js";
import type { Page } from "../page.js";
import { announce, breadcrumb, enumLabel, errorBox, formatMs, loading, pageHeading, timeEl } from "../ui.js";

export const pipelinesPage: Page = (main, ctx) => {
  const [name] = ctx.params;
  if (name) pipelineView(main, ctx.api, name, ctx.signal);
  else listView(main, ctx.api, ctx.signal);
};

const STAGES = ["preprocess", "generate", "postprocess", "validate"] as const;

function listView(main: HTMLElement, api: Api, signal: AbortSignal): void {
  const body = h("div", null, loading("pipelines"));
  replace(main, pageHeading("Pipelines", "Named, versioned pipelines: preprocess, generate, postprocess, validate."), body);
  (async () => {
    const pipelines: Pipeline[] = [];
    let pageToken = "";
    do {
      const res = await api.pipeline.listPipelines({ pageSize: 200, pageToken }, { signal });
      pipelines.push(...res.pipelines);
      pageToken = res.nextPageToken;
    } while (pageToken && pipelines.length < 2000);
    replace(
      body,
      pipelines.length === 0
        ? h("p", { class: "muted" }, "No pipelines yet. Create one with PipelineService.CreatePipeline.")
        : table(
            "Pipelines",
            ["Name", "Revision", "Inputs", "Steps", "Updated", "Description"],
            pipelines.map((p) => [
              h("a", { href: `#/pipelines/${encodeURIComponent(p.name)}` }, p.name),
              String(p.revision),
              p.spec?.inputVariables.join(", ") ?? "",
              STAGES.map((s) => `${s} ${p.spec?.[s].length ?? 0}`).join(" · "),
              timeEl(p.createTime),
              p.description,
            ]),
          ),
    );
  })().catch((err: unknown) => replace(body, errorBox(err, "Listing pipelines")));
}

function pipelineView(main: HTMLElement, api: Api, name: string, signal: AbortSignal): void {
  const body = h("div", null, loading("the pipeline"));
  replace(main, breadcrumb("#/pipelines", "Pipelines", name), pageHeading(name), body);
  api.pipeline.getPipeline({ name }, { signal }).then(
    (res) => {
      const p = res.pipeline;
      if (!p?.spec) return replace(body, h("p", null, "The server returned no pipeline."));
      const spec = p.spec;
      replace(
        body,
        p.description ? h("p", null, p.description) : null,
        h(
          "div",
          { class: "two-col" },
          h(
            "section",
            { class: "card", "aria-labelledby": "def-title" },
            h("h2", { id: "def-title" }, `Definition (revision ${p.revision})`),
            facts([
              ["Inputs", spec.inputVariables.join(", ")],
              ["Output variable", spec.outputVariable || "output (default)"],
              ["Attempts", String(spec.maxAttempts || 1)],
              ["Hooks", String(spec.hooks.length)],
              ["Revised", timeEl(p.createTime)],
            ]),
            h(
              "ol",
              { class: "stages" },
              STAGES.map((s) =>
                h("li", null, h("strong", null, s), spec[s].length ? h("ol", { class: "steps" }, spec[s].map((step) => h("li", null, describeStep(step)))) : h("span", { class: "muted" }, " (none)")),
              ),
            ),
          ),
          runPanel(api, p, signal),
        ),
      );
    },
    (err: unknown) => replace(body, errorBox(err, "Reading the pipeline")),
  );
}

function describeStep(step: Step): string {
  const kind = step.kind.case ?? "unknown";
  const label = step.name ? `${step.name}: ` : "";
  const k = step.kind;
  switch (k.case) {
    case "template":
      return `${label}template → ${k.value.output || "prompt"}`;
    case "llmGenerate":
      return `${label}LLM ${k.value.model}${k.value.maxTokens ? `, ≤${k.value.maxTokens} tokens` : ""}`;
    case "predict":
      return `${label}predict with ${k.value.model}`;
    case "featureLookup":
      return `${label}feature lookup in ${k.value.featureSet}`;
    case "custom":
      return `${label}custom ${k.value.type}`;
    default:
      return `${label}${kind.replace(/([A-Z])/g, " $1").toLowerCase()}`;
  }
}

function runPanel(api: Api, p: Pipeline, signal: AbortSignal): HTMLElement {
  const vars = p.spec?.inputVariables ?? [];
  const controls = vars.map((v) => h("textarea", { name: v, rows: 2, spellcheck: "false" }));
  const asJson = h("input", { type: "checkbox", name: "asJson", id: "inputs-as-json" });
  const run = h("button", { type: "submit", class: "primary" }, "Run");
  const stop = h("button", { type: "button", disabled: true }, "Stop");
  const events = h("ol", { class: "events" });
  const text = h("pre", { class: "generated", "aria-live": "polite", "aria-busy": "false", "aria-label": "Generated text" });
  const outcome = h("div");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run"),
    vars.length ? controls.map((c, i) => field(vars[i], c)) : h("p", { class: "muted" }, "This pipeline takes no inputs."),
    vars.length ? h("div", { class: "check" }, asJson, h("label", { for: asJson.id }, "Values are JSON (numbers, objects, lists)")) : null,
    h("div", { class: "actions" }, run, stop),
    h("h3", { id: "events-title" }, "Events"),
    h("div", { role: "log", "aria-labelledby": "events-title" }, events),
    h("h3", null, "Generated text"),
    text,
    outcome,
  );

  let running: AbortController | undefined;
  signal.addEventListener("abort", () => running?.abort());
  stop.addEventListener("click", () => running?.abort());

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (running) return;
    const inputs: JsonObject = {};
    try {
      vars.forEach((v, i) => {
        const raw = controls[i].value;
        inputs[v] = asJson.checked ? parseJson(v, raw) : raw;
      });
    } catch (err) {
      replace(outcome, h("div", { class: "error", role: "alert" }, h("p", null, (err as Error).message)));
      return;
    }
    void execute(inputs);
  });

  function log(...content: (Node | string)[]): void {
    events.append(h("li", null, ...content));
  }

  async function execute(inputs: JsonObject): Promise<void> {
    replace(outcome);
    replace(events);
    replace(text);
    running = new AbortController();
    run.disabled = true;
    stop.disabled = false;
    text.setAttribute("aria-busy", "true");
    const started = performance.now();
    try {
      const stream = api.pipeline.executePipelineStream({ name: p.name, inputs }, { signal: AbortSignal.any([running.signal, signal]) });
      for await (const res of stream) {
        const ev = res.event;
        switch (ev.case) {
          case "runStarted":
            log(h("strong", null, "run started"), ` · run ${ev.value.runId} · revision ${ev.value.revision}`);
            break;
          case "stageStarted":
            log(h("strong", null, `${enumLabel(StageSchema, ev.value.stage)} started`), ` · attempt ${ev.value.attempt}`);
            break;
          case "stageFinished":
            log(
              h("strong", null, `${enumLabel(StageSchema, ev.value.stage)} finished`),
              ` · attempt ${ev.value.attempt} · ${formatMs(ev.value.durationMs)}`,
              ev.value.validationError ? h("span", { class: "error-text" }, ` · validation failed: ${ev.value.validationError}`) : "",
            );
            break;
          case "textDelta":
            text.append(ev.value);
            break;
          case "runFinished": {
            log(h("strong", null, "run finished"), ` · ${ev.value.attempts} attempt${ev.value.attempts === 1 ? "" : "s"} · ${formatMs(performance.now() - started)} here`);
            replace(
              outcome,
              h("h3", null, "Output"),
              h("pre", { class: "output" }, JSON.stringify(ev.value.output ? toJson(ValueSchema, ev.value.output) : null, null, 2)),
              ev.value.timings.length
                ? table("Stage timings", ["Stage", "Attempt", "Time"], ev.value.timings.map((t) => [enumLabel(StageSchema, t.stage), String(t.attempt), formatMs(t.durationMs)]))
                : null,
            );
            announce("Pipeline run finished.");
            break;
          }
        }
      }
    } catch (err) {
      if (running.signal.aborted) {
        log(h("strong", null, "run stopped"));
      } else {
        log(h("strong", null, "run failed"));
        replace(outcome, errorBox(err, "Run"));
      }
    } finally {
      text.setAttribute("aria-busy", "false");
      running = undefined;
      run.disabled = false;
      stop.disabled = true;
    }
  }
  return form;
}

function parseJson(name: string, raw: string): JsonValue {
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    throw new Error(`input '${name}' is not valid JSON; clear "Values are JSON" to send it as text`);
  }
}
