// Online models: learner status, versions over time (from the registry), the rolling
// performance figures of each version as small charts, and the progressive validation
// score (every sample scored before it is learned) as a table.
import { OptimizerSchema, Task, TaskSchema, type OnlineModel, type ProgressiveScore, type VersionPerformance } from "../../../clients/typescript/src/gen/openloop/feedback/v1/feedback_service_pb.js";
import type { ModelVersion } from "../../../clients/typescript/src/gen/openloop/registry/v1/registry_service_pb.js";
import type { Api } from "../api.js";
import { barChart, lineChart, type Bar } from "../chart.js";
import { facts, h, replace, table } from "../dom.js";
import type { Page } from "../page.js";
import { breadcrumb, busy, enumLabel, errorBox, formatNumber, loading, pageHeading, timeEl } from "../ui.js";

export const onlinePage: Page = (main, ctx) => {
  const [name] = ctx.params;
  if (name) modelView(main, ctx.api, name, ctx.signal);
  else listView(main, ctx.api, ctx.signal);
};

function listView(main: HTMLElement, api: Api, signal: AbortSignal): void {
  const body = h("div", null, loading("online models"));
  replace(main, pageHeading("Online models", "Models that learn from feedback: each training registers a new version."), body);
  (async () => {
    const models: OnlineModel[] = [];
    let pageToken = "";
    do {
      const res = await api.feedback.listOnlineModels({ pageSize: 200, pageToken }, { signal });
      models.push(...res.models);
      pageToken = res.nextPageToken;
    } while (pageToken && models.length < 2000);
    replace(
      body,
      models.length === 0
        ? h("p", { class: "muted" }, "No online models yet. Create one with FeedbackService.CreateOnlineModel.")
        : table(
            "Online models",
            ["Name", "Task", "Current version", "Feature set", "Created"],
            models.map((m) => [
              h("a", { href: `#/online/${encodeURIComponent(m.name)}` }, m.name),
              enumLabel(TaskSchema, m.task),
              m.currentVersion,
              m.featureSet,
              timeEl(m.createTime),
            ]),
          ),
    );
  })().catch((err: unknown) => replace(body, errorBox(err, "Listing online models")));
}

function modelView(main: HTMLElement, api: Api, name: string, signal: AbortSignal): void {
  const refreshButton = h("button", { type: "button" }, "Refresh");
  const body = h("div", { "aria-live": "polite", "aria-busy": "true" }, loading("the model"));
  replace(
    main,
    breadcrumb("#/online", "Online models", name),
    pageHeading(name),
    h("div", { class: "actions" }, refreshButton),
    body,
  );
  refreshButton.addEventListener("click", () => void busy(refreshButton, load));
  void load();

  async function load(): Promise<void> {
    body.setAttribute("aria-busy", "true");
    try {
      const [modelRes, status, perf, versions] = await Promise.all([
        api.feedback.getOnlineModel({ name }, { signal }),
        api.feedback.getLearnerStatus({ model: name }, { signal }),
        api.feedback.getModelPerformance({ model: name }, { signal }),
        listVersions(api, name, signal),
      ]);
      const model = modelRes.model;
      if (!model) throw new Error("the server returned no model");
      const last = status.lastTraining;
      replace(
        body,
        h(
          "div",
          { class: "two-col" },
          h(
            "section",
            { class: "card", "aria-labelledby": "model-title" },
            h("h2", { id: "model-title" }, "Model"),
            facts([
              ["Task", enumLabel(TaskSchema, model.task)],
              ["Current version", model.currentVersion],
              ["Optimizer", model.hyperparameters ? enumLabel(OptimizerSchema, model.hyperparameters.optimizer) : ""],
              ["Learning rate", model.hyperparameters?.learningRate !== undefined ? formatNumber(model.hyperparameters.learningRate) : ""],
              ["L2", model.hyperparameters?.l2 !== undefined ? formatNumber(model.hyperparameters.l2) : ""],
              ["Error threshold", formatNumber(model.errorThreshold)],
              ["Update threshold", String(model.updateThreshold)],
              ["Feature set", model.featureSet],
              ["Description", model.description],
            ]),
          ),
          h(
            "section",
            { class: "card", "aria-labelledby": "learner-title" },
            h("h2", { id: "learner-title" }, "Learner"),
            facts([
              ["State", status.training ? "training now" : "waiting for samples"],
              ["Buffered samples", `${status.bufferedSamples} of ${status.updateThreshold}`],
              ["Samples seen", String(status.samplesSeen)],
              ["Trainings", String(status.trainings)],
              ["Serving version", status.currentVersion],
            ]),
            last
              ? [
                  h("h3", null, "Last training"),
                  facts([
                    ["Result", last.succeeded ? `registered version ${last.producedVersion}` : `failed: ${last.error}`],
                    ["Started", timeEl(last.startTime)],
                    ["Finished", timeEl(last.finishTime)],
                    ["Samples used", String(last.samplesUsed)],
                    ["Loss before → after", `${formatNumber(last.lossBefore)} → ${formatNumber(last.lossAfter)}`],
                  ]),
                ]
              : h("p", { class: "muted" }, "No training yet."),
          ),
        ),
        progressiveSection(model.task, perf.progressive, perf.versions),
        performanceSection(model.task, perf.versions.filter((p) => p.feedbackCount > 0n)),
        versionsSection(versions),
      );
    } catch (err) {
      replace(body, errorBox(err, "Reading the model"));
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  }
}

async function listVersions(api: Api, name: string, signal: AbortSignal): Promise<ModelVersion[]> {
  const out: ModelVersion[] = [];
  let pageToken = "";
  do {
    const res = await api.registry.listModelVersions({ name, pageSize: 200, pageToken }, { signal });
    out.push(...res.modelVersions);
    pageToken = res.nextPageToken;
  } while (pageToken && out.length < 1000);
  return out;
}

interface Figure {
  readonly label: string;
  readonly get: (p: VersionPerformance) => number;
}

function figuresFor(task: Task): Figure[] {
  return task === Task.BINARY_CLASSIFICATION
    ? [
        { label: "accuracy", get: (p) => p.accuracy },
        { label: "log loss", get: (p) => p.logLoss },
      ]
    : [
        { label: "MAE", get: (p) => p.mae },
        { label: "RMSE", get: (p) => p.rmse },
      ];
}

function performanceSection(task: Task, perf: readonly VersionPerformance[]): HTMLElement {
  const figures = figuresFor(task);
  // Every chart shares one scale per figure, so bars compare across versions.
  const maxOf = (f: Figure) => Math.max(...perf.map((p) => f.get(p)).filter(Number.isFinite), f.label === "accuracy" ? 1 : 0);
  const scales = new Map(figures.map((f) => [f.label, maxOf(f)]));
  const oldestFirst = [...perf].reverse();
  const main = figures[0];
  return h(
    "section",
    { "aria-labelledby": "perf-title" },
    h("h2", { id: "perf-title" }, "Performance by version"),
    perf.length === 0
      ? h("p", { class: "muted" }, "No feedback yet: figures appear once predictions get feedback.")
      : [
          // A line needs two versions; one version's figures are in its bar chart below.
          perf.length < 2
            ? null
            : h(
                "figure",
                { class: "card" },
                lineChart(`${main.label} by version, oldest first`, oldestFirst.map((p) => ({ label: `v${p.version}`, value: main.get(p) }))),
                h("figcaption", null, `${main.label} of each version over its recent feedback, oldest version first`),
              ),
          h(
            "div",
            { class: "perf-grid" },
            perf.map((p) => {
              const bars: Bar[] = figures.map((f) => ({ label: f.label, value: f.get(p), max: scales.get(f.label) ?? 1 }));
              return h(
                "figure",
                { class: "card perf" },
                h("figcaption", null, h("strong", null, `Version ${p.version}`)),
                barChart(`Version ${p.version}: ${bars.map((b) => `${b.label} ${formatNumber(b.value)}`).join(", ")}`, bars),
                facts(
                  [
                    ["Feedback", String(p.feedbackCount)],
                    ["In window", String(p.windowCount)],
                    ["Significant errors", String(p.significantErrors)],
                  ],
                  "facts compact",
                ),
              );
            }),
          ),
        ],
  );
}

function progressiveSection(task: Task, overall: ProgressiveScore | undefined, perf: readonly VersionPerformance[]): HTMLElement {
  const classification = task === Task.BINARY_CLASSIFICATION;
  const row = (label: string, p: ProgressiveScore) => [
    label,
    String(p.count),
    ...(classification ? [p.accuracy, p.logLoss] : [p.mae, p.rmse]).map((x) => formatNumber(x)),
  ];
  const scored = perf.filter((p) => p.progressive && p.progressive.count > 0n);
  return h(
    "section",
    { "aria-labelledby": "progressive-title" },
    h("h2", { id: "progressive-title" }, "Progressive validation"),
    !overall || overall.count === 0n
      ? h("p", { class: "muted" }, "No samples scored yet: each ingested sample and feedback outcome is scored by the serving version before it is learned.")
      : table(
          "Progressive validation: each sample scored by the version serving when it arrived, before it was learned",
          ["Version", "Samples scored", ...(classification ? ["Accuracy", "Log loss"] : ["MAE", "RMSE"])],
          [row("All versions", overall), ...scored.map((p) => row(`Version ${p.version}`, p.progressive!))],
        ),
  );
}

function versionsSection(versions: readonly ModelVersion[]): HTMLElement {
  return h(
    "section",
    { "aria-labelledby": "versions-title" },
    h("h2", { id: "versions-title" }, "Versions over time"),
    versions.length === 0
      ? h("p", { class: "muted" }, "No versions in the registry.")
      : table(
          "Versions, newest first",
          ["Version", "Registered", "Parent", "Samples used", "Loss before", "Loss after", "Aliases"],
          versions.map((v) => [
            h("a", { href: `#/registry/${encodeURIComponent(v.name)}` }, v.version),
            timeEl(v.createTime),
            v.lineage?.parentVersion ?? "",
            v.lineage && v.lineage.samplesUsed > 0n ? String(v.lineage.samplesUsed) : "",
            detail(v, "loss_before"),
            detail(v, "loss_after"),
            v.aliases.join(", "),
          ]),
        ),
  );
}

/** A lineage detail whose key ends with `suffix` ("batch.loss_before" for "loss_before"). */
function detail(v: ModelVersion, suffix: string): string {
  const details = v.lineage?.details ?? {};
  const key = Object.keys(details).find((k) => k === suffix || k.endsWith(`.${suffix}`));
  const raw = key === undefined ? undefined : details[key];
  if (raw === undefined) return "";
  const n = Number(raw);
  return Number.isFinite(n) ? formatNumber(n) : raw;
}
