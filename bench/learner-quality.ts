// Learner quality bench: openloop's online models with their defaults, through FeedbackService
// on a real server (a child process), against River 0.26.1's default pipelines on the same
// rows in the same order, scored by progressive validation (predict each sample, then learn
// it); and a synthetic linear target with features on scales 0.01 to 1,000 against the
// closed-form least-squares fit. Prints one markdown section.
//
//   node --import tsx bench/learner-quality.ts
//   node --import tsx bench/learner-quality.ts --sweep   (learning rates, in an offline replay)
//
// River runs in the test venv (.venv, from examples/python/requirements.txt); without it the
// River rows print "skipped: River not installed".
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FeatureValueSchema, type FeatureValue } from "../gen/openloop/feature/v1/feature_value_pb.js";
import { FeedbackService, Task, TrainingSamples } from "../gen/openloop/feedback/v1/feedback_service_pb.js";
import { spawnServer } from "../test/support/spawn.js";
import { SparseVector, vectorize } from "../src/feedback/hashing.js";
import { LinearModel, type Hyperparameters } from "../src/feedback/linear.js";
import { gaussian, rng } from "../test/feedback/synthetic.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
// Samples per Predict-then-ingest round of the progressive validation: one, as River does.
const BATCH = 1;

// Exports River's data sets (as River yields them) and scores its default pipelines.
const RIVER_SCRIPT = `
import json, sys
from river import datasets, evaluate, linear_model, metrics, preprocessing
out = {}
for name, ds in [("trump", datasets.TrumpApproval()), ("phishing", datasets.Phishing())]:
    rows = list(ds)
    names = list(rows[0][0].keys())
    out[name] = {"features": names, "x": [[float(x[k]) for k in names] for x, _ in rows], "y": [y if isinstance(y, bool) else float(y) for _, y in rows]}
mae = evaluate.progressive_val_score(datasets.TrumpApproval(), preprocessing.StandardScaler() | linear_model.LinearRegression(), metrics.MAE())
acc = evaluate.progressive_val_score(datasets.Phishing(), preprocessing.StandardScaler() | linear_model.LogisticRegression(), metrics.Accuracy())
import river
out["river"] = {"version": river.__version__, "mae": mae.get(), "accuracy": acc.get()}
json.dump(out, sys.stdout)
`;

interface Dataset {
  features: string[];
  x: number[][];
  y: (number | boolean)[];
}

interface RiverExport {
  trump: Dataset;
  phishing: Dataset;
  river: { version: string; mae: number; accuracy: number };
}

async function riverExport(): Promise<RiverExport | undefined> {
  if (!existsSync(PYTHON)) return undefined;
  try {
    await promisify(execFile)(PYTHON, ["-c", "import river"]);
  } catch {
    return undefined;
  }
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", RIVER_SCRIPT], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as RiverExport;
}

function featuresOf(names: string[], x: number[]): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  for (let j = 0; j < names.length; j++) out[names[j]!] = create(FeatureValueSchema, { kind: { case: "doubleValue", value: x[j]! } });
  return out;
}

function outcomeOf(y: number | boolean) {
  return typeof y === "boolean" ? { kind: { case: "label" as const, value: y } } : { kind: { case: "value" as const, value: y } };
}

async function settle(client: Client<typeof FeedbackService>, model: string): Promise<void> {
  for (;;) {
    const s = await client.getLearnerStatus({ model });
    if (!s.training && s.bufferedSamples < BigInt(s.updateThreshold)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Progressive validation through the server: per batch, Predict every sample with the serving
 * version, then ingest the batch and wait until the learner has trained what it will train.
 * Returns the MAE (regression) or accuracy (classification) and the serving version at the end.
 */
async function progressive(client: Client<typeof FeedbackService>, model: string, task: Task, data: Dataset): Promise<{ score: number; version: string }> {
  await client.createOnlineModel({ name: model, task });
  let total = 0;
  for (let i = 0; i < data.x.length; i += BATCH) {
    const rows = data.x.slice(i, i + BATCH).map((x, k) => ({ features: featuresOf(data.features, x), y: data.y[i + k]! }));
    for (const r of rows) {
      const p = (await client.predict({ model, features: r.features })).prediction!;
      total += typeof r.y === "boolean" ? Number((p.label ?? false) === r.y) : Math.abs(p.value - r.y);
    }
    await client.ingestSampleBatch({ model, samples: rows.map((r) => ({ features: r.features, outcome: outcomeOf(r.y) })) });
    await settle(client, model);
  }
  const version = (await client.getLearnerStatus({ model })).currentVersion;
  return { score: total / data.x.length, version };
}

/**
 * The same score in a closed loop: Predict, then SubmitFeedback with the true outcome (which
 * trains or not by the model's training_samples), then wait for the learner.
 */
async function closedLoop(client: Client<typeof FeedbackService>, model: string, task: Task, data: Dataset, trainingSamples: TrainingSamples): Promise<{ score: number; trained: bigint }> {
  await client.createOnlineModel({ name: model, task, trainingSamples });
  let total = 0;
  for (let i = 0; i < data.x.length; i++) {
    const y = data.y[i]!;
    const p = await client.predict({ model, features: featuresOf(data.features, data.x[i]!) });
    total += typeof y === "boolean" ? Number((p.prediction!.label ?? false) === y) : Math.abs(p.prediction!.value - y);
    await client.submitFeedback({ predictionId: p.predictionId, actual: outcomeOf(y) });
    await settle(client, model);
  }
  const trained = (await client.getLearnerStatus({ model })).samplesSeen;
  return { score: total / data.x.length, trained };
}

/** A linear target with mean 150 over 10 features whose scales run from 0.01 to 1,000. */
function syntheticRows(n: number, seed: number): Dataset {
  const g = gaussian(rng(seed));
  const k = 10;
  const scales = Array.from({ length: k }, (_, i) => 10 ** (-2 + (5 * i) / (k - 1)));
  const effects = Array.from({ length: k }, (_, i) => ((i % 4) - 1.5) * 2);
  const features = scales.map((_, i) => `x${i}`);
  const x: number[][] = [];
  const y: number[] = [];
  for (let r = 0; r < n; r++) {
    const row = scales.map((s) => s * (1 + g()));
    let t = 150;
    for (let i = 0; i < k; i++) t += (effects[i]! / scales[i]!) * (row[i]! - scales[i]!);
    x.push(row);
    y.push(t + g());
  }
  return { features, x, y };
}

/** Least squares with an intercept by the normal equations on centred, scaled columns. */
function leastSquares(data: Dataset): (x: number[]) => number {
  const n = data.x.length;
  const k = data.features.length;
  const ys = data.y as number[];
  const mean = Array.from({ length: k }, (_, j) => data.x.reduce((s, r) => s + r[j]!, 0) / n);
  const sd = Array.from({ length: k }, (_, j) => Math.sqrt(data.x.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n));
  const ymean = ys.reduce((s, v) => s + v, 0) / n;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let r = 0; r < n; r++) {
    const z = data.x[r]!.map((v, j) => (v - mean[j]!) / sd[j]!);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) a[i]![j]! += z[i]! * z[j]!;
      a[i]![k]! += z[i]! * (ys[r]! - ymean);
    }
  }
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let j = c; j <= k; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  const beta = a.map((row, i) => row[k]! / row[i]!);
  return (x) => ymean + x.reduce((s, v, j) => s + (beta[j]! * (v - mean[j]!)) / sd[j]!, 0);
}

async function synthetic(client: Client<typeof FeedbackService>): Promise<{ openloop: number; closedForm: number; samples: number }> {
  const train = syntheticRows(5000, 11);
  const test = syntheticRows(2000, 12);
  const model = "synthetic";
  await client.createOnlineModel({ name: model, task: Task.REGRESSION });
  for (let i = 0; i < train.x.length; i += 100) {
    const samples = train.x.slice(i, i + 100).map((x, k) => ({ features: featuresOf(train.features, x), outcome: outcomeOf(train.y[i + k]!) }));
    await client.ingestSampleBatch({ model, samples });
    await settle(client, model);
  }
  const fit = leastSquares(train);
  let se = 0;
  let seFit = 0;
  for (let r = 0; r < test.x.length; r++) {
    const p = (await client.predict({ model, features: featuresOf(test.features, test.x[r]!) })).prediction!.value;
    const y = test.y[r] as number;
    se += (p - y) ** 2;
    seFit += (fit(test.x[r]!) - y) ** 2;
  }
  return { openloop: Math.sqrt(se / test.x.length), closedForm: Math.sqrt(seFit / test.x.length), samples: train.x.length };
}

async function main() {
  const river = await riverExport();
  const server = await spawnServer({ config: { log: { level: "warn" } } });
  try {
    const client = createClient(FeedbackService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const out: string[] = [];
    out.push("## Learner quality (online models with their defaults)");
    out.push("");
    out.push("`node --import tsx bench/learner-quality.ts`");
    out.push("");
    out.push(
      "openloop runs in a child process; every model is created with its defaults and sees raw features. " +
        `Progressive validation, as River's \`evaluate.progressive_val_score\`: in the data set's order, ${BATCH === 1 ? "each sample" : `each batch of ${BATCH} samples`} is first predicted by the serving version (Predict), then ingested (IngestSampleBatch), and the bench waits until the learner has trained what its update threshold lets it. ` +
        "River scores its default pipelines, `StandardScaler() | LinearRegression()` and `StandardScaler() | LogisticRegression()`, which learn after every sample.",
    );
    out.push("");
    out.push("| Target | openloop | Baseline | Met |");
    out.push("|---|---|---|---|");
    if (!river) {
      out.push("| River data sets | skipped: River not installed | | |");
    } else {
      const trump = await progressive(client, "trump-approval", Task.REGRESSION, river.trump);
      const phishing = await progressive(client, "phishing", Task.BINARY_CLASSIFICATION, river.phishing);
      out.push(`| TrumpApproval (${river.trump.x.length} samples) MAE <= River ${river.river.version} | ${trump.score.toFixed(3)} (version ${trump.version} at the end) | ${river.river.mae.toFixed(3)} | ${trump.score <= river.river.mae ? "yes" : "no"} |`);
      out.push(
        `| Phishing (${river.phishing.x.length} samples) accuracy >= River ${river.river.version} | ${(phishing.score * 100).toFixed(2)}% (version ${phishing.version} at the end) | ${(river.river.accuracy * 100).toFixed(2)}% | ${phishing.score >= river.river.accuracy ? "yes" : "no"} |`,
      );
    }
    const loops: string[] = [];
    const sets: [string, Task, Dataset, (x: number) => string][] = [];
    if (river) {
      sets.push(["TrumpApproval, MAE", Task.REGRESSION, river.trump, (x) => x.toFixed(3)]);
      sets.push(["Phishing, accuracy", Task.BINARY_CLASSIFICATION, river.phishing, (x) => `${(x * 100).toFixed(2)}%`]);
    }
    const synth = syntheticRows(2000, 13);
    sets.push(["Synthetic (mean 150), MAE", Task.REGRESSION, synth, (x) => x.toFixed(3)]);
    for (const [label, task, data, fmt] of sets) {
      const slug = label.split(/[ ,]/)[0]!.toLowerCase();
      const sig = await closedLoop(client, `loop-sig-${slug}`, task, data, TrainingSamples.SIGNIFICANT_ERRORS);
      const all = await closedLoop(client, `loop-all-${slug}`, task, data, TrainingSamples.ALL_OUTCOMES);
      loops.push(`| ${label} (${data.x.length} samples) | ${fmt(sig.score)} (${sig.trained} trained) | ${fmt(all.score)} (${all.trained} trained) |`);
    }
    const s = await synthetic(client);
    out.push(
      `| Synthetic target (mean 150, 10 features on scales 0.01-1,000, noise 1), one pass over ${s.samples.toLocaleString("en-US")} samples: held-out RMSE within 5% of least squares | ${s.openloop.toFixed(3)} | ${s.closedForm.toFixed(3)} (closed form) | ${s.openloop <= s.closedForm * 1.05 ? "yes" : "no"} (${((s.openloop / s.closedForm - 1) * 100).toFixed(1)}%) |`,
    );
    out.push("");
    out.push(
      "Closed loop, the choice of `training_samples`: each sample is predicted (Predict), its true outcome sent back (SubmitFeedback), and the bench waits for the learner; " +
        "with SIGNIFICANT_ERRORS only feedback whose error exceeds error_threshold (default 0.1: any wrong label, any regression error above 0.1) trains.",
    );
    out.push("");
    out.push("| Data set, progressive score | SIGNIFICANT_ERRORS | ALL_OUTCOMES |");
    out.push("|---|---|---|");
    out.push(...loops);
    console.log(out.join("\n"));
  } finally {
    await server.stop();
  }
}

/**
 * The learner replayed in this process: the same vectors, the same warm-up and update
 * threshold schedule and training order as the server, without it (it reproduces the bench's
 * figures), to compare hyperparameters on the three data sets quickly.
 */
function replay(task: "regression" | "classification", data: Dataset, hp: Hyperparameters, chunk: number): { model: LinearModel; score: number } {
  const v = new SparseVector();
  let serving = new LinearModel(task, hp);
  let trained = 0;
  let total = 0;
  const buffer: { idx: Int32Array; val: Float64Array; y: number }[] = [];
  for (let i = 0; i < data.x.length; i++) {
    vectorize(featuresOf(data.features, data.x[i]!), hp.buckets, v);
    const y = typeof data.y[i] === "boolean" ? (data.y[i] ? 1 : 0) : (data.y[i] as number);
    const p = serving.predict(v.idx, v.val, v.nnz);
    total += task === "regression" ? Math.abs(p - y) : (p >= 0.5 ? 1 : 0) === y ? 1 : 0;
    buffer.push({ idx: v.idx.slice(0, v.nnz), val: v.val.slice(0, v.nnz), y });
    // The bench sends `chunk` samples, then waits for the trainings they start.
    if ((i + 1) % chunk !== 0 && i + 1 !== data.x.length) continue;
    while (buffer.length > 0 && buffer.length >= Math.max(1, Math.min(100, Math.floor(trained / 2)))) {
      const next = serving.clone();
      for (let e = 0; e < hp.epochs; e++) for (const s of buffer) next.update(s.idx, s.val, s.idx.length, s.y);
      serving = next;
      trained += buffer.length;
      buffer.length = 0;
    }
  }
  return { model: serving, score: total / data.x.length };
}

async function sweep(): Promise<void> {
  const river = await riverExport();
  if (!river) throw new Error("the sweep needs River in .venv");
  const train = syntheticRows(5000, 11);
  const test = syntheticRows(2000, 12);
  const fit = leastSquares(train);
  const v = new SparseVector();
  const base: Hyperparameters = { learningRate: 0.1, l2: 1e-4, buckets: 1 << 18, optimizer: "adagrad", epochs: 1, scaling: "standardize" };
  const out = ["| Optimizer, learning rate | TrumpApproval MAE | Phishing accuracy | Synthetic, held-out RMSE over least squares |", "|---|---:|---:|---:|"];
  for (const [optimizer, lr] of [["adagrad", 0.05], ["adagrad", 0.1], ["adagrad", 0.15], ["adagrad", 0.2], ["adagrad", 0.25], ["adagrad", 0.3], ["adam", 0.01]] as const) {
    const hp = { ...base, optimizer, learningRate: lr };
    const trump = replay("regression", river.trump, hp, 1).score;
    const phishing = replay("classification", river.phishing, hp, 1).score;
    const model = replay("regression", train, hp, 100).model;
    let se = 0;
    let seFit = 0;
    for (let r = 0; r < test.x.length; r++) {
      vectorize(featuresOf(test.features, test.x[r]!), hp.buckets, v);
      const y = test.y[r] as number;
      se += (model.predict(v.idx, v.val, v.nnz) - y) ** 2;
      seFit += (fit(test.x[r]!) - y) ** 2;
    }
    out.push(`| ${optimizer === "adam" ? "Adam" : "AdaGrad"} ${lr} | ${trump.toFixed(3)} | ${(phishing * 100).toFixed(2)}% | +${((Math.sqrt(se / seFit) - 1) * 100).toFixed(1)}% |`);
  }
  console.log(out.join("\n"));
}

await (process.argv.includes("--sweep") ? sweep() : main());
