// The recorded prediction's bytes in Redis: the layout every replica reads (a replica of the
// previous release too, during a rolling upgrade), built without the header object on Predict's path.
import { expect, test } from "vitest";
import { decodePrediction, encodePrediction, type PredictionRecord } from "../../src/feedback/predictions.js";

/** The layout, written the plain way: [u32 header length][JSON header][zeros to 8][f64 val][i32 idx]. */
function reference(r: PredictionRecord): Buffer {
  const head = Buffer.from(JSON.stringify({ model: r.model, version: r.version, task: r.task, prediction: r.prediction, nnz: r.idx.length }));
  const start = (4 + head.length + 7) & ~7;
  const out = Buffer.alloc(start + r.idx.length * 12);
  out.writeUInt32LE(head.length, 0);
  head.copy(out, 4);
  r.val.forEach((v, i) => out.writeDoubleLE(v, start + i * 8));
  r.idx.forEach((v, i) => out.writeInt32LE(v, start + r.idx.length * 8 + i * 4));
  return out;
}

const record = (n: number, over: Partial<PredictionRecord> = {}): PredictionRecord => ({
  model: "bench",
  version: "12",
  task: "regression",
  prediction: -0.1 + n / 3,
  idx: Int32Array.from({ length: n }, (_, i) => (i * 7919) % 1_000_003),
  val: Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3),
  ...over,
});

test.each([
  ["a typical input", record(10)],
  ["no features", record(0)],
  ["a long input (its own allocation)", record(2000)],
  ["classification, a header that needs escapes and UTF-8", record(3, { task: "classification", prediction: 1, version: 'v"é\\2', model: "m.odel_1-x" })],
  ["an extreme value", record(1, { prediction: 5e-324, val: Float64Array.of(-Number.MAX_VALUE) })],
])("%s: the same bytes as the layout written the plain way, and back", (_name, r) => {
  // Interleaved with other small allocations, as on a server.
  const bytes = [encodePrediction(r), Buffer.allocUnsafe(3), encodePrediction(r)];
  expect(bytes[0]).toEqual(reference(r));
  expect(bytes[2]).toEqual(reference(r));
  const back = decodePrediction(bytes[0]!);
  expect(back).toEqual({ model: r.model, version: r.version, task: r.task, prediction: r.prediction, idx: r.idx, val: r.val });
});
