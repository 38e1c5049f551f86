// Shared sample buffer and training lock in Redis, for replicas sharing one Redis.
//
// Keys per model, under the configured prefix (default openloop:feedback:; the {name}
// hash tag keeps them in one slot):
//   openloop:feedback:{name}:buffer     list of records (samples.ts), one per ingested batch
//   openloop:feedback:{name}:buffered   samples in the list
//   openloop:feedback:{name}:state      hash {version, samplesTrained, artifact}: the serving
//                                       version and its artifact, so every replica serves and
//                                       trains from it even when replicas do not share a registry
//   openloop:feedback:{name}:versions   counter numbering the versions replicas register
//   openloop:feedback:{name}:lock       training lock: SET NX PX with a random token
//   openloop:feedback:{name}:batch:<id> a batch id seen, expiring after the batch id TTL;
//                                       set NX in the script that appends its record, so
//                                       the id exists exactly when its samples do
// A commit trims the trained records and records the new version in one script that first
// checks the caller still holds the lock, so a replica whose lock expired cannot commit.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { LearnerState, SampleBuffer, TakenSamples } from "./buffer.js";
import { decodeRecord, type BatchTag, type SampleBlock } from "./samples.js";

const APPEND_BATCH_SCRIPT = `
if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[2])
return 1
`;

const COMMIT_SCRIPT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('LTRIM', KEYS[2], ARGV[2], -1)
  redis.call('DECRBY', KEYS[3], ARGV[3])
end
redis.call('HSET', KEYS[4], 'version', ARGV[4], 'samplesTrained', ARGV[5], 'artifact', ARGV[6])
return 1
`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

// Records fetched per LRANGE while taking samples.
const TAKE_PAGE = 256;

function keys(prefix: string, model: string) {
  const base = `${prefix}{${model}}:`;
  return { base, buffer: `${base}buffer`, buffered: `${base}buffered`, state: `${base}state`, lock: `${base}lock`, versions: `${base}versions` };
}

export class RedisSampleBuffer implements SampleBuffer {
  private readonly k: ReturnType<typeof keys>;

  constructor(
    private readonly redis: Redis,
    model: string,
    prefix: string,
    private readonly batchIdTtlMs: number = 24 * 60 * 60 * 1000,
  ) {
    this.k = keys(prefix, model);
  }

  async append(record: Buffer, count: number, batch?: BatchTag): Promise<boolean> {
    if (!batch) {
      await this.redis.multi().rpush(this.k.buffer, record).incrby(this.k.buffered, count).exec().then(checkExec);
      return true;
    }
    const k = this.k;
    const appended = await this.redis.eval(APPEND_BATCH_SCRIPT, 3, k.buffer, k.buffered, `${k.base}batch:${batch.id}`, record, count, batch.time, this.batchIdTtlMs);
    return appended === 1;
  }

  async hasBatch(id: string): Promise<boolean> {
    return (await this.redis.exists(`${this.k.base}batch:${id}`)) === 1;
  }

  async buffered(): Promise<number> {
    return Number((await this.redis.get(this.k.buffered)) ?? 0);
  }

  async take(maxSamples: number): Promise<TakenSamples | undefined> {
    const blocks: SampleBlock[] = [];
    let count = 0;
    let through = 0;
    for (;;) {
      const page = await this.redis.lrangeBuffer(this.k.buffer, through, through + TAKE_PAGE - 1);
      for (const rec of page) {
        const block = decodeRecord(rec);
        if (count > 0 && count + block.count > maxSamples) return { blocks, count, through, position: "" };
        blocks.push(block);
        count += block.count;
        through++;
      }
      if (page.length < TAKE_PAGE) break;
    }
    return count === 0 && through === 0 ? undefined : { blocks, count, through, position: "" };
  }

  async commit(taken: TakenSamples, state: LearnerState, artifact: Uint8Array, lockToken = ""): Promise<boolean> {
    return (await this.runCommit(taken.through, taken.count, state, artifact, lockToken)) === 1;
  }

  // List indexes shift as replicas trim: a position from before a crash cannot be trusted.
  async commitPosition(): Promise<boolean> {
    return false;
  }

  async state(): Promise<LearnerState> {
    const [version, samplesTrained] = await this.redis.hmget(this.k.state, "version", "samplesTrained");
    return { version: version ?? "", samplesTrained: Number(samplesTrained ?? 0) };
  }

  async setState(state: LearnerState, artifact: Uint8Array, lockToken = ""): Promise<boolean> {
    return (await this.runCommit(0, 0, state, artifact, lockToken)) === 1;
  }

  async reserveVersion(): Promise<string> {
    return String(await this.redis.incr(this.k.versions));
  }

  async sharedArtifact(version: string): Promise<Uint8Array | undefined> {
    const [v, artifact] = await this.redis.hmgetBuffer(this.k.state, "version", "artifact");
    return v && artifact && v.toString() === version ? artifact : undefined;
  }

  private async runCommit(through: number, count: number, state: LearnerState, artifact: Uint8Array, token: string): Promise<number> {
    const k = this.k;
    const bytes = Buffer.from(artifact.buffer, artifact.byteOffset, artifact.byteLength);
    return (await this.redis.eval(COMMIT_SCRIPT, 4, k.lock, k.buffer, k.buffered, k.state, token, through, count, state.version, state.samplesTrained, bytes)) as number;
  }

  async close(): Promise<void> {}
}

function checkExec(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error("redis transaction aborted");
  for (const [err] of results) if (err) throw err;
}

/** One training at a time per model across every replica sharing the Redis. */
export class RedisTrainingLock {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
    private readonly prefix: string,
  ) {}

  /** Returns a token when the lock was taken, undefined when another holder has it. */
  async acquire(model: string): Promise<string | undefined> {
    const token = randomUUID();
    const ok = await this.redis.set(keys(this.prefix, model).lock, token, "PX", this.ttlMs, "NX");
    return ok === "OK" ? token : undefined;
  }

  /** Extends the lock; false when it was lost (expired and maybe taken by another). */
  async renew(model: string, token: string): Promise<boolean> {
    return (await this.redis.eval(RENEW_SCRIPT, 1, keys(this.prefix, model).lock, token, this.ttlMs)) === 1;
  }

  async release(model: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, keys(this.prefix, model).lock, token);
  }
}
