// Recorded predictions awaiting feedback: bounded, expiring, and claimable exactly once
// (so a second feedback for the same prediction is never counted twice, even when
// replicas sharing Redis receive both at the same moment).
import type { Redis } from "ioredis";
import { ioredis } from "../platform/redis.js";
import { GroupedSetNx } from "../platform/redis-grouped-set.js";
import type { Task } from "./linear.js";

export interface PredictionRecord {
  readonly model: string;
  readonly version: string;
  readonly task: Task;
  /** The output given: a number, or P(true) for classification. */
  readonly prediction: number;
  /** The hashed input vector (bias entry last), so feedback can become a training sample. */
  readonly idx: Int32Array;
  readonly val: Float64Array;
}

export type ClaimResult =
  | { status: "claimed"; record: PredictionRecord }
  | { status: "missing" }
  | { status: "already-claimed" };

/**
 * Where predictions wait for their feedback: memory-predictions.ts in process, or Redis (below)
 * for replicas. A store copies a record's vectors before put or add returns: callers reuse them.
 */
export interface PredictionStore {
  /** Stores a prediction; false (and nothing stored) when `id` is taken. */
  put(id: string, record: PredictionRecord): Promise<boolean>;
  /** Stores a prediction under a fresh random id (no one else holds it): settles once it is stored. */
  add(id: string, record: PredictionRecord): Promise<unknown>;
  /** Takes the right to give feedback on `id`, once. */
  claim(id: string): Promise<ClaimResult>;
  /** Gives a claim back (the feedback could not be processed; a retry may claim again). */
  unclaim(id: string): Promise<void>;
  close(): Promise<void>;
}

// Atomically: the prediction must exist, and the claim key must not; the claim lives as
// long as the prediction does.
const CLAIM_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = 1 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl) then return {1, v} end
return {2}
`;

/**
 * Redis store: one key per prediction with PX expiry; claims are SET NX keys. The predictions of one
 * turn of the event loop are written by one command (group commit), and each put settles once its
 * group is acknowledged: feedback through any replica right after finds it.
 */
export class RedisPredictionStore implements PredictionStore {
  private readonly sets: GroupedSetNx;

  constructor(
    private readonly redis: Redis,
    ttlMs: number,
    private readonly prefix: string,
  ) {
    this.sets = new GroupedSetNx(redis, ttlMs);
  }

  put(id: string, record: PredictionRecord): Promise<boolean> {
    return this.sets.set(this.key(id), encodePrediction(record));
  }

  add(id: string, record: PredictionRecord): Promise<unknown> {
    return this.sets.setUnique(this.key(id), encodePrediction(record));
  }

  async claim(id: string): Promise<ClaimResult> {
    // A Command with Buffer replies, not callBuffer("EVAL"): ioredis drops callBuffer's command name under auto-pipelining.
    const r = (await this.redis.sendCommand(new (ioredis().Command)("EVAL", [CLAIM_SCRIPT, 2, this.key(id), this.claimKey(id)], { replyEncoding: null }))) as [number, Buffer?];
    if (r[0] === 0) return { status: "missing" };
    if (r[0] === 2) return { status: "already-claimed" };
    return { status: "claimed", record: decodePrediction(r[1]!) };
  }

  async unclaim(id: string): Promise<void> {
    await this.redis.del(this.claimKey(id));
  }

  private key(id: string): string {
    return `${this.prefix}prediction:${id}`;
  }

  private claimKey(id: string): string {
    return `${this.prefix}feedback:${id}`;
  }

  async close(): Promise<void> {}
}

// [u32 header length][JSON {model, version, task, prediction, nnz}][pad to 8][f64 val][i32 idx]
// (every replica reads this layout: a change would break feedback during a rolling upgrade).
// Built in one pooled allocation on Predict's path: the header as JSON.stringify writes it,
// without the object, and the vectors copied in place.
export function encodePrediction(r: PredictionRecord): Buffer {
  const n = r.idx.length;
  const head = `{"model":${JSON.stringify(r.model)},"version":${JSON.stringify(r.version)},"task":${JSON.stringify(r.task)},"prediction":${JSON.stringify(r.prediction)},"nnz":${n}}`;
  const hlen = Buffer.byteLength(head);
  const start = (4 + hlen + 7) & ~7;
  const out = Buffer.allocUnsafe(start + n * 12);
  out.writeUInt32LE(hlen, 0);
  out.write(head, 4);
  out.fill(0, 4 + hlen, start);
  if ((out.byteOffset & 7) === 0) {
    new Float64Array(out.buffer, out.byteOffset + start, n).set(r.val);
    new Int32Array(out.buffer, out.byteOffset + start + n * 8, n).set(r.idx);
  } else {
    for (let i = 0; i < n; i++) out.writeDoubleLE(r.val[i]!, start + i * 8);
    for (let i = 0; i < n; i++) out.writeInt32LE(r.idx[i]!, start + n * 8 + i * 4);
  }
  return out;
}

export function decodePrediction(bytes: Buffer): PredictionRecord {
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  const buf = Buffer.from(ab);
  const hlen = buf.readUInt32LE(0);
  const h = JSON.parse(buf.toString("utf8", 4, 4 + hlen)) as { model: string; version: string; task: Task; prediction: number; nnz: number };
  const start = (4 + hlen + 7) & ~7;
  return {
    model: h.model,
    version: h.version,
    task: h.task,
    prediction: h.prediction,
    val: new Float64Array(ab, start, h.nnz),
    idx: new Int32Array(ab, start + h.nnz * 8, h.nnz),
  };
}
