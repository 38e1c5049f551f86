// Rolling performance per model version over its most recent feedback, and the
// Prometheus gauges that show it (computed at scrape time, nothing per feedback).
import { Counter, Gauge, type Registry } from "prom-client";
import { compareVersions } from "./versions.js";
import { loss, type Task } from "./linear.js";

export interface VersionFigures {
  version: string;
  feedbackCount: number;
  windowCount: number;
  significantErrors: number;
  mae: number;
  rmse: number;
  accuracy: number;
  logLoss: number;
}

class VersionWindow {
  feedbackCount = 0;
  significant = 0;
  private next = 0;
  private filled = 0;
  // Regression: |error| and error^2. Classification: correct (0/1) and log loss.
  private readonly a: Float64Array;
  private readonly b: Float64Array;

  constructor(size: number) {
    this.a = new Float64Array(size);
    this.b = new Float64Array(size);
  }

  add(a: number, b: number, significant: boolean): void {
    this.a[this.next] = a;
    this.b[this.next] = b;
    this.next = (this.next + 1) % this.a.length;
    if (this.filled < this.a.length) this.filled++;
    this.feedbackCount++;
    if (significant) this.significant++;
  }

  figures(task: Task, version: string): VersionFigures {
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < this.filled; i++) {
      sa += this.a[i]!;
      sb += this.b[i]!;
    }
    const n = this.filled || 1;
    const base = { version, feedbackCount: this.feedbackCount, windowCount: this.filled, significantErrors: this.significant };
    if (task === "regression") return { ...base, mae: sa / n, rmse: Math.sqrt(sb / n), accuracy: 0, logLoss: 0 };
    return { ...base, mae: 0, rmse: 0, accuracy: sa / n, logLoss: sb / n };
  }
}

interface ModelFigures {
  task: Task;
  versions: Map<string, VersionWindow>;
}

export class PerformanceTracker {
  private readonly models = new Map<string, ModelFigures>();
  private readonly feedbackTotal: Counter<"model">;

  constructor(
    private readonly windowSize: number,
    private readonly maxVersions: number,
    metrics: Registry,
  ) {
    const figures = (pick: (f: VersionFigures) => number, task: Task) =>
      function (this: Gauge<"model" | "version">) {
        this.reset();
        for (const [model, m] of tracker.models) {
          if (m.task !== task) continue;
          for (const [version, w] of m.versions) this.set({ model, version }, pick(w.figures(m.task, version)));
        }
      };
    const tracker = this;
    const gauge = (name: string, help: string, pick: (f: VersionFigures) => number, task: Task) =>
      new Gauge({ name, help, labelNames: ["model", "version"], registers: [metrics], collect: figures(pick, task) });
    gauge("openloop_feedback_mae", "Rolling mean absolute error per regression model version", (f) => f.mae, "regression");
    gauge("openloop_feedback_rmse", "Rolling root mean squared error per regression model version", (f) => f.rmse, "regression");
    gauge("openloop_feedback_accuracy", "Rolling accuracy per classification model version", (f) => f.accuracy, "classification");
    gauge("openloop_feedback_log_loss", "Rolling log loss per classification model version", (f) => f.logLoss, "classification");
    this.feedbackTotal = new Counter({ name: "openloop_feedback_feedback_total", help: "Feedback received", labelNames: ["model"], registers: [metrics] });
  }

  /** Records one feedback on a prediction of `version`. */
  record(model: string, task: Task, version: string, prediction: number, actual: number, error: number, significant: boolean): void {
    let m = this.models.get(model);
    if (!m) {
      m = { task, versions: new Map() };
      this.models.set(model, m);
    }
    let w = m.versions.get(version);
    if (!w) {
      w = new VersionWindow(this.windowSize);
      m.versions.set(version, w);
      if (m.versions.size > this.maxVersions) {
        const oldest = [...m.versions.keys()].sort(compareVersions)[0]!;
        m.versions.delete(oldest);
      }
    }
    if (task === "regression") w.add(error, error * error, significant);
    else w.add(error === 0 ? 1 : 0, loss(task, prediction, actual), significant);
    this.feedbackTotal.inc({ model });
  }

  /** Figures per version, newest first; only `version` when given. */
  figures(model: string, version?: string): VersionFigures[] {
    const m = this.models.get(model);
    if (!m) return [];
    return [...m.versions.entries()]
      .filter(([v]) => version === undefined || v === version)
      .sort(([a], [b]) => compareVersions(b, a))
      .map(([v, w]) => w.figures(m.task, v));
  }

  forget(model: string): void {
    this.models.delete(model);
  }
}
