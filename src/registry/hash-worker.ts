// SHA-256 of artifact bytes on a worker thread, so that the event loop receiving an upload only
// receives it. A curl upload of 500 MiB kept the main thread busy 0.87-0.92 s, of which hashing
// was about half; without the hash it was busy 0.42-0.47 s (BENCHMARKS.md, registry). The bytes
// are not copied to the worker: it reads the writer's aligned buffers, which live in shared
// memory (direct-io.ts), and each buffer goes back to its pool only once the worker has read it.
//
// One worker per process, started by the first hash and stopped once no artifact is being
// hashed for IDLE_STOP_MS, so an idle server does not keep its isolate resident. It never keeps
// the process alive. A hash lives in the worker that began it: if that worker dies, the hash
// fails, rather than going on from nothing in the next one.
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";

/** A worker idle this long (checked as often) is stopped; the next artifact starts another (about 10 ms). */
const IDLE_STOP_MS = 10_000;

// Plain JavaScript, run with eval: the worker loads no module of ours. Messages are processed
// in order, so a job's digest comes after all its updates.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const jobs = new Map();
parentPort.on("message", (m) => {
  try {
    if (m.op === "update") {
      let hash = jobs.get(m.job);
      if (!hash) jobs.set(m.job, (hash = createHash("sha256")));
      hash.update(new Uint8Array(m.memory, m.offset, m.length));
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === "digest") {
      const hash = jobs.get(m.job) ?? createHash("sha256");
      jobs.delete(m.job);
      parentPort.postMessage({ seq: m.seq, digest: hash.digest("hex") });
    } else {
      jobs.delete(m.job);
    }
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: String(err && err.message || err).slice(0, 200) });
  }
});
`;

interface Reply {
  readonly seq: number;
  readonly digest?: string;
  readonly error?: string;
}

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

class HashThread {
  private worker: Worker | undefined;
  /** Which worker this is: a hash begun in one is refused in the next. */
  private generation = 0;
  private seq = 0;
  private nextJob = 0;
  /** Hashes begun and not yet finished or dropped: the worker is not idle while there are any. */
  private readonly openJobs = new Set<number>();
  private readonly pending = new Map<number, Pending>();
  private idleCheck: NodeJS.Timeout | undefined;
  private lastUse = 0;

  /** A new hash, bound to the running worker (started if need be); its id and that worker's generation. */
  begin(): { job: number; generation: number } {
    this.start();
    const job = ++this.nextJob;
    this.openJobs.add(job);
    return { job, generation: this.generation };
  }

  update(job: { job: number; generation: number }, bytes: Uint8Array): Promise<Reply> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError("the hash worker reads shared memory only");
    return this.send(job, { op: "update", job: job.job, memory: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength });
  }

  digest(job: { job: number; generation: number }): Promise<Reply> {
    const reply = this.send(job, { op: "digest", job: job.job });
    this.openJobs.delete(job.job);
    return reply;
  }

  drop(job: { job: number; generation: number }): void {
    this.openJobs.delete(job.job);
    if (this.worker && job.generation === this.generation) this.worker.postMessage({ op: "drop", job: job.job });
  }

  /** Stops the worker now; what it was hashing fails. For tests and shutdown. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.forget(new Error("the hash worker was stopped"));
    await worker?.terminate();
  }

  private send(job: { generation: number }, message: Record<string, unknown>): Promise<Reply> {
    const worker = this.worker;
    if (!worker || job.generation !== this.generation) return Promise.reject(new Error("the hash worker stopped while hashing this artifact"));
    const seq = ++this.seq;
    this.lastUse = performance.now();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...message, seq });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: "openloop-sha256", stdout: false, stderr: false });
    worker.unref();
    worker.on("message", (reply: Reply) => this.settle(reply));
    worker.on("error", (err) => this.forget(err instanceof Error ? err : new Error(String(err)), worker));
    worker.on("exit", (code) => this.forget(new Error(`the hash worker exited with code ${code}`), worker));
    this.worker = worker;
    this.generation++;
    this.idleCheck = setInterval(() => {
      if (this.openJobs.size === 0 && performance.now() - this.lastUse >= IDLE_STOP_MS) void this.stopIfIdle();
    }, IDLE_STOP_MS).unref();
    return worker;
  }

  private settle(reply: Reply): void {
    const p = this.pending.get(reply.seq);
    if (!p) return;
    this.pending.delete(reply.seq);
    if (reply.error !== undefined) p.reject(new Error(`hashing failed: ${reply.error}`));
    else p.resolve(reply);
  }

  /** Stops the worker unless it is hashing (or owes a reply). */
  async stopIfIdle(): Promise<void> {
    const worker = this.worker;
    if (this.openJobs.size > 0 || this.pending.size > 0 || !worker) return;
    this.worker = undefined;
    clearInterval(this.idleCheck);
    await worker.terminate();
  }

  /** The worker is gone (or going): everything it owed fails, and the next hash starts another. */
  private forget(err: Error, which?: Worker): void {
    if (which && which !== this.worker) return;
    this.worker = undefined;
    clearInterval(this.idleCheck);
    this.openJobs.clear();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
  }
}

const thread = new HashThread();

/**
 * A SHA-256 computed by the hash worker over bytes in shared memory. Updates are hashed in the
 * order given; each one's promise settles once the worker has read its bytes (the caller must
 * not change or reuse them before), the digest's once all are hashed.
 */
export class WorkerSha256 {
  private readonly job = thread.begin();
  private done = false;

  update(bytes: Uint8Array): Promise<void> {
    return thread.update(this.job, bytes).then(() => undefined);
  }

  async digest(): Promise<string> {
    this.done = true;
    const reply = await thread.digest(this.job);
    return reply.digest!;
  }

  /** Forgets the job's state in the worker (an abandoned artifact). */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    thread.drop(this.job);
  }
}

/**
 * Stops the hash worker if no hash is open. Each message hands it a slab's SharedArrayBuffer,
 * and its isolate, which allocates little, may hold those for long: stopping it lets idle slabs
 * go (direct-io.ts).
 */
export function stopHashWorkerIfIdle(): Promise<void> {
  return thread.stopIfIdle();
}

/** Stops the hash worker: hashes in progress fail; the next one starts a new worker. */
export function stopHashWorker(): Promise<void> {
  return thread.stop();
}
