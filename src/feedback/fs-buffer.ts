// Embedded sample buffer: an append-only log of segment files per model, fsynced before
// the learner acknowledges, with group commit (every record waiting while an fsync runs
// goes out with the next single write + fsync).
//
// Layout under the model's directory:
//   seg-<n>.log    records of samples.ts, in arrival order; a new segment starts when
//                  the current one passes `segmentBytes`
//   state.json     {version, samplesTrained, segment, offset}: the serving version and
//                  the log position before which every sample is trained into a
//                  registered version. Written atomically (temp file, fsync, rename,
//                  fsync directory), so serving and buffer change together.
//   batch-ids.log  "<time> <id>" lines: batch ids of records already trained and dropped
//                  from the segments, appended (fsynced) before each commit drops them, so
//                  the buffer remembers every batch id for the TTL; rewritten at open and
//                  when it holds mostly expired lines
// On open, records after the committed position are replayed; a torn tail (a crash in
// the middle of a write, never acknowledged) is cut off. Batch ids are remembered from
// batch-ids.log and from the tags of the replayed records.
import { mkdir, open, readdir, readFile, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { LearnerState, SampleBuffer, TakenSamples } from "./buffer.js";
import { CorruptRecordError, ownRecordBlock, readRecord, type BatchTag, type SampleBlock } from "./samples.js";
import { replaceFileAtomic, syncDir } from "../platform/durable-file.js";

interface Entry {
  block: SampleBlock;
  segment: number;
  end: number;
}

interface PersistedState extends LearnerState {
  segment: number;
  offset: number;
}

interface Pending {
  record: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

const SEGMENT = /^seg-(\d{12})\.log$/;
const BATCH_IDS = "batch-ids.log";
// Lines of batch-ids.log beyond twice the live ids (plus this slack) trigger a rewrite.
const BATCH_IDS_SLACK = 1024;

export interface FsBufferOptions {
  /** How long a batch id is remembered after its samples were buffered, in milliseconds. */
  batchIdTtlMs: number;
  now: () => number;
}

const DEFAULT_OPTIONS: FsBufferOptions = { batchIdTtlMs: 24 * 60 * 60 * 1000, now: Date.now };

export class FsSampleBuffer implements SampleBuffer {
  private entries: Entry[] = [];
  private head = 0;
  private count = 0;
  private persisted!: PersistedState;
  private fh!: FileHandle;
  private segment = 1;
  private segmentSize = 0;
  private pending: Pending[] = [];
  private flushing = false;
  private flushed: Promise<void> = Promise.resolve();
  private broken: Error | undefined;
  private closed = false;
  /**
   * Batch ids remembered: when their samples were buffered, or the running write of
   * their record. In insertion order, which is about time order (expiry sweeps stop at
   * the first live id).
   */
  private readonly batches = new Map<string, number | Promise<void>>();
  private batchIdLines = 0;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly log: Logger,
    private readonly options: FsBufferOptions,
  ) {}

  /** Opens (creating if needed) the buffer in `dir` and replays what is not yet trained. */
  static async open(dir: string, segmentBytes: number, log: Logger, options: Partial<FsBufferOptions> = {}): Promise<FsSampleBuffer> {
    const b = new FsSampleBuffer(dir, segmentBytes, log, { ...DEFAULT_OPTIONS, ...options });
    await b.replay();
    return b;
  }

  private async replay(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.persisted = await readState(this.dir);
    await this.loadBatchIds();
    const segments = (await readdir(this.dir))
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const seg of segments) {
      if (seg < this.persisted.segment) {
        await rm(this.segmentPath(seg), { force: true });
        continue;
      }
      await this.replaySegment(seg, seg === this.persisted.segment ? this.persisted.offset : 0);
    }
    this.segment = Math.max(this.persisted.segment, segments.at(-1) ?? 0);
    this.fh = await open(this.segmentPath(this.segment), "a");
    this.segmentSize = (await this.fh.stat()).size;
    await syncDir(this.dir);
    if (this.count > 0) this.log.info({ dir: this.dir, samples: this.count }, "replayed buffered samples");
  }

  private async replaySegment(seg: number, from: number): Promise<void> {
    const file = this.segmentPath(seg);
    const bytes = await readFile(file);
    let pos = from;
    for (;;) {
      let r: ReturnType<typeof readRecord>;
      try {
        r = readRecord(bytes, pos);
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err;
        r = undefined;
      }
      if (!r) break;
      this.push({ block: r.block, segment: seg, end: r.end });
      pos = r.end;
    }
    if (pos < bytes.length) {
      // Never acknowledged: the write was cut short by a crash.
      this.log.warn({ file, validBytes: pos, droppedBytes: bytes.length - pos }, "cutting off a torn tail of the sample log");
      const fh = await open(file, "r+");
      try {
        await fh.truncate(pos);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }

  private push(e: Entry): void {
    this.entries.push(e);
    this.count += e.block.count;
    if (e.block.batch) this.remember(e.block.batch);
  }

  private live(time: number): boolean {
    return time + this.options.batchIdTtlMs > this.options.now();
  }

  private remember(tag: BatchTag): void {
    this.batches.delete(tag.id);
    if (!this.live(tag.time)) return;
    this.batches.set(tag.id, tag.time);
  }

  // Reads batch-ids.log and rewrites it without expired or torn lines.
  private async loadBatchIds(): Promise<void> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, BATCH_IDS), "latin1");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    const lines = text.split("\n");
    for (const line of lines) {
      const m = /^(\d+) (\S+)$/.exec(line);
      if (m) this.remember({ time: Number(m[1]), id: m[2]! });
    }
    if (text !== "" && (lines.length - 1 !== this.batches.size || !text.endsWith("\n"))) await this.rewriteBatchIds();
    else this.batchIdLines = this.batches.size;
  }

  private async rewriteBatchIds(): Promise<void> {
    let text = "";
    let lines = 0;
    for (const [id, time] of this.batches) {
      if (typeof time !== "number" || !this.live(time)) continue;
      text += `${time} ${id}\n`;
      lines++;
    }
    await replaceFileAtomic(path.join(this.dir, BATCH_IDS), text);
    this.batchIdLines = lines;
  }

  // Before a commit drops records from the log: their live batch ids go to batch-ids.log.
  private async keepBatchIds(from: number, through: number): Promise<void> {
    let text = "";
    let lines = 0;
    for (let i = from; i < through; i++) {
      const tag = this.entries[i]!.block.batch;
      if (!tag || !this.live(tag.time)) continue;
      text += `${tag.time} ${tag.id}\n`;
      lines++;
    }
    for (const [id, time] of this.batches) {
      if (typeof time !== "number") continue;
      if (this.live(time)) break;
      this.batches.delete(id);
    }
    if (this.batchIdLines + lines > 2 * this.batches.size + BATCH_IDS_SLACK) {
      await this.rewriteBatchIds();
      return;
    }
    if (lines === 0) return;
    const file = path.join(this.dir, BATCH_IDS);
    const fh = await open(file, "a");
    try {
      await fh.write(text, null, "latin1");
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (this.batchIdLines === 0) await syncDir(this.dir);
    this.batchIdLines += lines;
  }

  private segmentPath(seg: number): string {
    return path.join(this.dir, `seg-${String(seg).padStart(12, "0")}.log`);
  }

  async append(record: Buffer, _count = 0, batch?: BatchTag): Promise<boolean> {
    if (!batch) {
      await this.write(record);
      return true;
    }
    // Decided synchronously when no write of the id runs: two appends of one id never both write.
    const known = this.known(batch.id);
    if (known === true || (known !== false && (await known))) return false;
    const written = this.write(record);
    this.batches.delete(batch.id);
    this.batches.set(batch.id, written);
    try {
      await written;
    } catch (err) {
      if (this.batches.get(batch.id) === written) this.batches.delete(batch.id);
      throw err;
    }
    return true;
  }

  async hasBatch(id: string): Promise<boolean> {
    return this.known(id);
  }

  private known(id: string): boolean | Promise<boolean> {
    const prior = this.batches.get(id);
    if (prior === undefined || (typeof prior === "number" && !this.live(prior))) return false;
    if (typeof prior === "number") return true;
    // The same id is being written: known once that write is durable; if it fails, whatever holds then.
    return prior.then(
      () => true,
      () => this.known(id),
    );
  }

  private write(record: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the sample buffer is closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        this.flushed = this.flush();
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) await this.writeBatch(this.pending.splice(0));
    } finally {
      // Cleared in the same synchronous step that saw the queue empty: no append is stranded.
      this.flushing = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      if (this.broken) throw this.broken;
      if (this.segmentSize >= this.segmentBytes) await this.rotate();
      const start = this.segmentSize;
      let bytes = 0;
      for (const p of batch) bytes += p.record.length;
      try {
        const { bytesWritten } = await this.fh.writev(batch.map((p) => p.record));
        if (bytesWritten !== bytes) throw new Error(`short write to the sample log (${bytesWritten} of ${bytes} bytes)`);
        await this.fh.datasync();
      } catch (err) {
        await this.cutBack(start);
        throw err;
      }
      let end = start;
      for (const p of batch) {
        end += p.record.length;
        this.push({ block: ownRecordBlock(p.record), segment: this.segment, end });
      }
      this.segmentSize = end;
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
    }
  }

  // After a failed write, remove partial bytes so later records stay readable on replay.
  private async cutBack(size: number): Promise<void> {
    try {
      await this.fh.truncate(size);
      await this.fh.datasync();
    } catch (err) {
      this.broken = new Error(`the sample log of ${this.dir} cannot be written: ${(err as Error).message}`);
      this.log.error({ err }, "sample log broken");
    }
  }

  private async rotate(): Promise<void> {
    await this.fh.close();
    this.segment++;
    this.fh = await open(this.segmentPath(this.segment), "a");
    this.segmentSize = 0;
    await syncDir(this.dir);
  }

  async buffered(): Promise<number> {
    return this.count;
  }

  async take(maxSamples: number): Promise<TakenSamples | undefined> {
    if (this.head >= this.entries.length) return undefined;
    const blocks: SampleBlock[] = [];
    let count = 0;
    let i = this.head;
    while (i < this.entries.length && (count === 0 || count + this.entries[i]!.block.count <= maxSamples)) {
      blocks.push(this.entries[i]!.block);
      count += this.entries[i]!.block.count;
      i++;
    }
    const last = this.entries[i - 1]!;
    return { blocks, count, through: i, position: `${last.segment}:${last.end}` };
  }

  async commitPosition(position: string, state: LearnerState): Promise<boolean> {
    const m = /^(\d+):(\d+)$/.exec(position);
    if (!m) return false;
    const segment = Number(m[1]);
    const end = Number(m[2]);
    let count = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      count += e.block.count;
      if (e.segment === segment && e.end === end) return this.commit({ blocks: [], count, through: i + 1, position }, state);
      if (e.segment > segment) break;
    }
    return false;
  }

  async reserveVersion(): Promise<string | undefined> {
    return undefined;
  }

  async sharedArtifact(): Promise<Uint8Array | undefined> {
    return undefined;
  }

  async commit(taken: TakenSamples, state: LearnerState): Promise<boolean> {
    if (taken.through <= this.head || taken.through > this.entries.length) throw new Error("commit of samples that were not taken");
    const last = this.entries[taken.through - 1]!;
    const next: PersistedState = { ...state, segment: last.segment, offset: last.end };
    await this.keepBatchIds(this.head, taken.through);
    await writeState(this.dir, next);
    this.persisted = next;
    this.count -= taken.count;
    this.head = taken.through;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    for (let seg = last.segment - 1; seg >= 1; seg--) {
      try {
        await rm(this.segmentPath(seg));
      } catch {
        break; // already gone, and so are all before it
      }
    }
    return true;
  }

  async state(): Promise<LearnerState> {
    return { version: this.persisted.version, samplesTrained: this.persisted.samplesTrained };
  }

  async setState(state: LearnerState): Promise<boolean> {
    const next = { ...this.persisted, ...state };
    await writeState(this.dir, next);
    this.persisted = next;
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushed;
    await this.fh.close();
  }
}

async function readState(dir: string): Promise<PersistedState> {
  try {
    const s = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8")) as PersistedState;
    return { version: String(s.version ?? ""), samplesTrained: Number(s.samplesTrained ?? 0), segment: Number(s.segment ?? 1), offset: Number(s.offset ?? 0) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: "", samplesTrained: 0, segment: 1, offset: 0 };
    throw err;
  }
}


async function writeState(dir: string, s: PersistedState): Promise<void> {
  await replaceFileAtomic(path.join(dir, "state.json"), JSON.stringify(s));
}

