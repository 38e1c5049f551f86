// Rolling performance per model version over its most recent feedback, progressive
// validation per version and per model (every sample scored by the serving version
// before it is learned), and the Prometheus gauges that show them (computed at scrape
// time, nothing per feedback).
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
  progressive: ProgressiveFigures;
}

export interface ProgressiveFigures {
  count: number;
  mae: number;
  rmse: number;
  accuracy: number;
  logLoss: number;
}

/**
 * Progressive validation sums of samples scored by one version: what an ingestion adds
 * up in the same pass that vectorizes its samples, handed to the tracker once they are
 * durably buffered.
 */
export class ProgressiveSums {
  count = 0;
  // Regression: sum of |error| and of error^2. Classification: correct labels and log loss.
  private a = 0;
  private b = 0;

  constructor(
    readonly task: Task,
    readonly version: string,
  ) {}

  add(prediction: number, actual: number): void {
    this.count++;
    if (this.task === "regression") {
      const d = Math.abs(prediction - actual);
      this.a += d;
      this.b += d * d;
    } else {
      if ((prediction >= 0.5 ? 1 : 0) === actual) this.a++;
      this.b += loss(this.task, prediction, actual);
    }
  }

  merge(o: ProgressiveSums): void {
    this.count += o.count;
    this.a += o.a;
    this.b += o.b;
  }

  figures(): ProgressiveFigures {
    const n = this.count || 1;
    if (this.task === "regression") return { count: this.count, mae: this.a / n, rmse: Math.sqrt(this.b / n), accuracy: 0, logLoss: 0 };
    return { count: this.count, mae: 0, rmse: 0, accuracy: this.a / n, logLoss: this.b / n };
  }
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

  figures(task: Task, version: string): Omit<VersionFigures, "progressive"> {
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

/** What is known of one version: its feedback window (made at its first feedback) and its progressive sums. */
class VersionStats {
  window: VersionWindow | undefined;
  readonly progressive: ProgressiveSums;

  constructor(task: Task, version: string) {
    this.progressive = new ProgressiveSums(task, version);
  }

  figures(task: Task, version: string): VersionFigures {
    const rolling = this.window?.figures(task, version) ?? { version, feedbackCount: 0, windowCount: 0, significantErrors: 0, mae: 0, rmse: 0, accuracy: 0, logLoss: 0 };
    return { ...rolling, progressive: this.progressive.figures() };
  }
}

interface ModelFigures {
  task: Task;
  versions: Map<string, VersionStats>;
  /** Progressive validation over every version, including versions no longer tracked. */
  overall: ProgressiveSums;
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
          for (const [version, w] of m.versions) if (w.window) this.set({ model, version }, pick(w.figures(m.task, version)));
        }
      };
    const tracker = this;
    const gauge = (name: string, help: string, pick: (f: VersionFigures) => number, task: Task) =>
      new Gauge({ name, help, labelNames: ["model", "version"], registers: [metrics], collect: figures(pick, task) });
    gauge("openloop_feedback_mae", "Rolling mean absolute error per regression model version", (f) => f.mae, "regression");
    gauge("openloop_feedback_rmse", "Rolling root mean squared error per regression model version", (f) => f.rmse, "regression");
    gauge("openloop_feedback_accuracy", "Rolling accuracy per classification model version", (f) => f.accuracy, "classification");
    gauge("openloop_feedback_log_loss", "Rolling log loss per classification model version", (f) => f.logLoss, "classification");
    new Gauge({
      name: "openloop_feedback_progressive_score",
      help: "Progressive validation per online model since the process started: mae and rmse (regression), accuracy and log_loss (classification)",
      labelNames: ["model", "figure"],
      registers: [metrics],
      collect(this: Gauge<"model" | "figure">) {
        this.reset();
        for (const [model, m] of tracker.models) {
          if (m.overall.count === 0) continue;
          const f = m.overall.figures();
          const shown: [string, number][] = m.task === "regression" ? [["mae", f.mae], ["rmse", f.rmse]] : [["accuracy", f.accuracy], ["log_loss", f.logLoss]];
          for (const [figure, value] of shown) this.set({ model, figure }, value);
        }
      },
    });
    this.feedbackTotal = new Counter({ name: "openloop_feedback_feedback_total", help: "Feedback received", labelNames: ["model"], registers: [metrics] });
  }

  /** Records one feedback on a prediction of `version`. */
  record(model: string, task: Task, version: string, prediction: number, actual: number, error: number, significant: boolean): void {
    const stats = this.stats(model, task, version);
    const w = (stats.window ??= new VersionWindow(this.windowSize));
    if (task === "regression") w.add(error, error * error, significant);
    else w.add(error === 0 ? 1 : 0, loss(task, prediction, actual), significant);
    this.feedbackTotal.inc({ model });
  }

  /** Adds progressive validation sums of samples scored by `sums.version` (then learned). */
  scored(model: string, sums: ProgressiveSums): void {
    if (sums.count === 0) return;
    this.stats(model, sums.task, sums.version).progressive.merge(sums);
    this.models.get(model)!.overall.merge(sums);
  }

  private stats(model: string, task: Task, version: string): VersionStats {
    let m = this.models.get(model);
    if (!m) {
      m = { task, versions: new Map(), overall: new ProgressiveSums(task, "") };
      this.models.set(model, m);
    }
    let stats = m.versions.get(version);
    if (!stats) {
      stats = new VersionStats(task, version);
      m.versions.set(version, stats);
      if (m.versions.size > this.maxVersions) {
        const oldest = [...m.versions.keys()].sort(compareVersions)[0]!;
        m.versions.delete(oldest);
      }
    }
    return stats;
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

  /** Progressive validation of the model over every version. */
  progressive(model: string): ProgressiveFigures {
    return this.models.get(model)?.overall.figures() ?? { count: 0, mae: 0, rmse: 0, accuracy: 0, logLoss: 0 };
  }

  forget(model: string): void {
    this.models.delete(model);
  }
}
