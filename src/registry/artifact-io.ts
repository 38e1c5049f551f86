// Moving artifact bytes between the network and a file with few copies and few syscalls:
// uploads copy received chunks into 1 MiB shared buffers and write them with one writev per
// batch; downloads read large blocks into a small pool of buffers, one read ahead, hashed on
// their way out. Large artifacts in shared buffers are hashed on the hash worker.
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { DIRECT_ALIGN, DIRECT_BUFFER_BYTES, giveAlignedBuffer, takeAlignedBuffer } from "./direct-io.js";
import { WorkerSha256 } from "./hash-worker.js";
import type { ReadChunk } from "./storage.js";

/** Most iovecs one writev(2) takes (IOV_MAX on Linux). */
const IOV_MAX = 1024;
/**
 * An artifact is hashed on the hash worker once this much of it has arrived; smaller ones are
 * hashed here at the end, which costs less than starting the worker.
 */
const WORKER_HASH_MIN_BYTES = 4 * 1024 * 1024;
/**
 * Buffered mode: once this much has been written since the last one, an fdatasync starts in the
 * background while the writes go on, so the disk writes back during the transfer instead of all
 * at the end (PostgreSQL's *_flush_after do the same with sync_file_range, which Node lacks).
 * On the third VM: 557-593 MiB/s against 416-487 with one fdatasync at the end (BENCHMARKS.md).
 */
const WRITE_BACK_BYTES = 32 * 1024 * 1024;

// Received chunks whose memory the writer frees as soon as they are copied into its buffers
// (see freeOnceCopied).
const freedOnceCopied = new WeakSet<Uint8Array>();
/** Chunks smaller than this are not worth freeing early (and may share a pooled allocation). */
const FREE_EARLY_MIN_BYTES = 64 * 1024;
/** Bytes an ArrayBuffer may hold beyond the chunk (the message's framing and its other fields). */
const FREE_EARLY_SLACK_BYTES = 4096;

/**
 * Marks a received chunk whose ArrayBuffer holds nothing else anyone reads later (the call's
 * transport said so: platform/rpc/request-buffers.ts): once the writer has copied it,
 * it detaches that buffer, which frees the memory at once. Left to the garbage collector, a
 * chunk still referenced across two young-generation collections is promoted, and its
 * MiB stays resident until the next full collection: tens of MiB during an upload.
 * Chunks that are small or share their buffer with other bytes are left alone.
 */
export function freeOnceCopied(chunk: Uint8Array): void {
  if (chunk.byteLength >= FREE_EARLY_MIN_BYTES && chunk.buffer.byteLength - chunk.byteLength <= FREE_EARLY_SLACK_BYTES && chunk.buffer instanceof ArrayBuffer) {
    freedOnceCopied.add(chunk);
  }
}

/** ES2024's ArrayBuffer methods (Node 21+), not in the compiler's lib yet. */
type DetachableBuffer = ArrayBuffer & { readonly detached: boolean; transfer(newLength?: number): ArrayBuffer };

function freeCopied(chunk: Uint8Array): void {
  if (!freedOnceCopied.has(chunk)) return;
  const buffer = chunk.buffer as DetachableBuffer;
  // Detaching moves the bytes to a new, empty buffer: the old allocation is freed now.
  if (!buffer.detached) buffer.transfer(0);
}

/**
 * Writes one artifact file from a stream of chunks and hashes it on the way.
 *
 * Chunks are copied into page-aligned 1 MiB buffers in shared memory (direct-io.ts), which the
 * hash worker (hash-worker.ts) reads where they are while this thread receives the next bytes;
 * each buffer is reused once it is both written and hashed. Whatever has filled while a write
 * is in flight leaves in the next writev. At most `highWaterMark` bytes wait: beyond that
 * `write` waits for the disk or the hash, and so does the client. A write error is reported by
 * the next `write` or by `finish`.
 */
export class ArtifactFileWriter {
  /** Once the artifact is large enough: the worker's hash. */
  private remote: WorkerSha256 | undefined;
  /** Before that: the filled buffers not hashed yet, kept from reuse, in order. */
  private held: { bytes: Uint8Array; settle: () => void }[] = [];
  private heldBytes = 0;
  /** Each queued buffer's hashing, which its reuse waits for. */
  private readonly hashedBy = new Map<Uint8Array, Promise<void>>();
  /** Bytes sent to the worker and not hashed yet (they count against the high-water mark). */
  private hashingBytes = 0;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private inFlightBytes = 0;
  private position = 0;
  private flushing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private waiters: (() => void)[] = [];
  private bytes = 0;
  /** The aligned buffer being filled, and how much of it is. */
  private stage: Buffer | undefined;
  private staged = 0;
  /** Buffered mode: bytes written since the last write-back began, and the one running. */
  private unsynced = 0;
  private writingBack: Promise<void> | undefined;

  /**
   * `direct`: the file was opened with O_DIRECT (direct-io.ts): the tail is written padded to a
   * whole block, then the file is cut back. Otherwise the page cache is written back every
   * `writeBackBytes`.
   */
  constructor(
    private readonly fh: FileHandle,
    private readonly highWaterMark: number,
    private readonly direct = false,
    private readonly writeBackBytes = WRITE_BACK_BYTES,
  ) {}

  /** Bytes accepted so far. */
  get size(): number {
    return this.bytes;
  }

  /** Queues a chunk; resolves at once unless more than highWaterMark bytes are waiting for the disk. */
  async write(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    if (chunk.byteLength === 0) return;
    this.bytes += chunk.byteLength;
    this.copyToStages(chunk);
    while (this.queuedBytes + this.inFlightBytes + this.hashingBytes > this.highWaterMark && (this.flushing || this.hashingBytes > 0)) {
      // Woken after each write, not once the whole queue is out: the disk never runs dry.
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.throwIfFailed();
    }
  }

  /** Writes what is queued, makes the file durable (fdatasync) and returns its size and SHA-256. */
  async finish(): Promise<{ sizeBytes: number; sha256: string }> {
    if (this.staged > 0) {
      // O_DIRECT writes whole blocks: the tail goes out padded, and the file is cut back to size.
      const tail = this.stage!.subarray(0, this.direct ? Math.ceil(this.staged / DIRECT_ALIGN) * DIRECT_ALIGN : this.staged);
      this.hashBuffer(tail, this.stage!.subarray(0, this.staged));
      this.enqueue(tail);
      this.stage = undefined;
      this.staged = 0;
    }
    await this.drain();
    if (this.direct && this.position !== this.bytes) await this.fh.truncate(this.bytes);
    await this.writingBack;
    await this.fh.datasync();
    const sha256 = await this.digest();
    this.throwIfFailed();
    return { sizeBytes: this.bytes, sha256 };
  }

  private async digest(): Promise<string> {
    if (this.remote) return this.remote.digest();
    // A small artifact: its buffers were held for this.
    const hash = createHash("sha256");
    for (const h of this.takeHeld()) {
      hash.update(h.bytes);
      h.settle();
    }
    return hash.digest("hex");
  }

  /**
   * Hashes `bytes` (all of the buffer `queued`, or the start of the tail, padded in direct mode)
   * after those before it; `queued` is reused once this is done and it is written.
   */
  private hashBuffer(queued: Uint8Array, bytes: Uint8Array): void {
    let done!: () => void;
    this.hashedBy.set(queued, new Promise<void>((resolve) => (done = resolve)));
    if (this.remote) return this.sendToWorker(bytes, done);
    this.held.push({ bytes, settle: done });
    this.heldBytes += bytes.byteLength;
    if (this.heldBytes < WORKER_HASH_MIN_BYTES) return;
    this.remote = new WorkerSha256();
    for (const h of this.takeHeld()) this.sendToWorker(h.bytes, h.settle);
  }

  private sendToWorker(bytes: Uint8Array, done: () => void): void {
    this.hashingBytes += bytes.byteLength;
    const settle = () => {
      this.hashingBytes -= bytes.byteLength;
      done();
      this.wake();
    };
    this.remote!.update(bytes).then(settle, (err: unknown) => {
      this.failure ??= { error: err };
      settle();
    });
  }

  private takeHeld(): { bytes: Uint8Array; settle: () => void }[] {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    return held;
  }

  /** Gives a written buffer back to the pool, once it is hashed too. */
  private release(queued: Uint8Array): void {
    const buf = this.alignedOf(queued);
    const hashed = this.hashedBy.get(queued);
    this.hashedBy.delete(queued);
    if (hashed) void hashed.then(() => giveAlignedBuffer(buf));
    else giveAlignedBuffer(buf);
  }

  /** The aligned buffer a queued write is, or is the start of (the tail). */
  private alignedOf(queued: Uint8Array): Buffer {
    return Buffer.from(queued.buffer, queued.byteOffset, DIRECT_BUFFER_BYTES);
  }

  private enqueue(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.byteLength;
    this.flushing ??= this.flush();
  }

  /** Copies the chunk into aligned buffers, queueing each one that fills. */
  private copyToStages(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.byteLength; ) {
      this.stage ??= takeAlignedBuffer(DIRECT_BUFFER_BYTES);
      const n = Math.min(chunk.byteLength - at, this.stage.byteLength - this.staged);
      this.stage.set(chunk.subarray(at, at + n), this.staged);
      this.staged += n;
      at += n;
      if (this.staged === this.stage.byteLength) {
        this.hashBuffer(this.stage, this.stage);
        this.enqueue(this.stage);
        this.stage = undefined;
        this.staged = 0;
      }
    }
    // Copied: a chunk marked freeOnceCopied can go now.
    freeCopied(chunk);
  }

  /** Waits for the queue to empty; throws the write error, if any. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Stops writing: drops the queue and waits for the write in flight, so the file can be closed. */
  async abandon(): Promise<void> {
    this.remote?.abandon();
    for (const h of this.takeHeld()) h.settle();
    for (const b of this.queue) this.release(b);
    if (this.stage) giveAlignedBuffer(this.stage);
    this.stage = undefined;
    this.staged = 0;
    this.queue = [];
    this.queuedBytes = 0;
    this.failure ??= { error: new Error("the artifact write was abandoned") };
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.writingBack;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.queue.length <= IOV_MAX ? this.queue : this.queue.slice(0, IOV_MAX);
        this.queue = this.queue.length <= IOV_MAX ? [] : this.queue.slice(IOV_MAX);
        let size = 0;
        for (const b of batch) size += b.byteLength;
        this.queuedBytes -= size;
        this.inFlightBytes = size;
        await writevFully(this.fh, batch, size, this.position);
        for (const b of batch) this.release(b);
        this.position += size;
        this.inFlightBytes = 0;
        this.writeBack(size);
        this.wake();
      }
    } catch (err) {
      this.failure = { error: err };
      this.queue = [];
      this.queuedBytes = 0;
      this.inFlightBytes = 0;
    } finally {
      this.flushing = undefined;
      this.wake();
    }
  }

  /** Buffered mode: starts an fdatasync in the background every writeBackBytes written (one at a time). */
  private writeBack(written: number): void {
    if (this.direct) return;
    this.unsynced += written;
    if (this.unsynced < this.writeBackBytes || this.writingBack) return;
    this.unsynced = 0;
    this.writingBack = this.fh.datasync().then(
      () => void (this.writingBack = undefined),
      (err: unknown) => {
        this.failure ??= { error: err };
        this.writingBack = undefined;
      },
    );
  }

  private wake(): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

async function writevFully(fh: FileHandle, buffers: Uint8Array[], size: number, position: number): Promise<void> {
  let written = (await fh.writev(buffers, position)).bytesWritten;
  // A short write (rare on regular files: a signal, a nearly full disk) resumes where it stopped.
  while (written < size) {
    let skip = written;
    let i = 0;
    while (skip >= buffers[i]!.byteLength) skip -= buffers[i++]!.byteLength;
    const rest = [buffers[i]!.subarray(skip), ...buffers.slice(i + 1)];
    const { bytesWritten } = await fh.writev(rest, position + written);
    if (bytesWritten === 0) throw Object.assign(new Error("writev wrote nothing"), { code: "EIO" });
    written += bytesWritten;
  }
}

/** Most bytes of a read the hash worker may be behind the network; beyond, the reader waits for it. */
const READ_HASH_LAG_BYTES = 2 * 1024 * 1024;

/**
 * Yields `chunks` as they are, counting their bytes and, when `hash` is set, hashing them on the
 * way out; returns the count and the SHA-256 once the last chunk is out. Chunks in shared memory
 * (direct reads) of an artifact of at least WORKER_HASH_MIN_BYTES are hashed on the hash worker
 * while the caller sends them; each one's release then waits until the worker has read it.
 */
export async function* countAndHashChunks(
  chunks: AsyncIterable<ReadChunk>,
  options: { readonly hash: boolean; readonly sizeBytes: number },
): AsyncGenerator<ReadChunk, { bytes: number; sha256?: string }> {
  let bytes = 0;
  if (!options.hash) {
    for await (const chunk of chunks) {
      bytes += chunk.data.byteLength;
      yield chunk;
    }
    return { bytes };
  }
  let local: Hash | undefined;
  let remote: WorkerSha256 | undefined;
  let failure: { error: unknown } | undefined;
  // What the worker has not hashed yet, oldest first.
  const behind: { hashed: Promise<void>; bytes: number }[] = [];
  let behindBytes = 0;
  try {
    for await (const chunk of chunks) {
      const n = chunk.data.byteLength;
      bytes += n;
      if (!local && !remote) {
        if (options.sizeBytes >= WORKER_HASH_MIN_BYTES && chunk.data.buffer instanceof SharedArrayBuffer) remote = new WorkerSha256();
        else local = createHash("sha256");
      }
      if (local) {
        local.update(chunk.data);
        yield chunk;
        continue;
      }
      const hashed = remote!.update(chunk.data).catch((err: unknown) => {
        failure ??= { error: err };
      });
      behind.push({ hashed, bytes: n });
      behindBytes += n;
      const release = () => chunk.release();
      yield { data: chunk.data, withHeadroom: chunk.withHeadroom, release: () => void hashed.then(release) };
      if (failure) throw failure.error;
      while (behindBytes > READ_HASH_LAG_BYTES) {
        const oldest = behind.shift()!;
        await oldest.hashed;
        behindBytes -= oldest.bytes;
      }
    }
    if (local) return { bytes, sha256: local.digest("hex") };
    const sha256 = remote ? await remote.digest() : createHash("sha256").digest("hex");
    if (failure) throw failure.error;
    return { bytes, sha256 };
  } finally {
    remote?.abandon();
  }
}

export interface ChunkReadOptions {
  /** Bytes of data per chunk (the last one may be shorter). */
  readonly chunkBytes: number;
  /** Free bytes before each chunk's data in its buffer (see ReadChunk.withHeadroom). */
  readonly headroom?: number;
  /** The file was opened with O_DIRECT (direct-io.ts). */
  readonly direct?: boolean;
  readonly signal?: AbortSignal;
}

// Buffers a reader keeps for reuse: the chunk being read ahead, the one the caller holds, and
// those a transport still holds until the network takes them.
const POOL_BUFFERS = 4;

/**
 * Reads `size` bytes of a file from the start in chunks, one read ahead of the caller so the
 * disk and the network overlap, into buffers that are reused once released. Ends early (with
 * what was read) if the file is shorter; the caller checks the total.
 */
export async function* readChunks(fh: FileHandle, size: number, options: ChunkReadOptions): AsyncGenerator<ReadChunk> {
  const headroom = options.headroom ?? 0;
  const direct = options.direct === true;
  if (direct && headroom > DIRECT_ALIGN) throw new Error(`headroom of at most ${DIRECT_ALIGN} bytes before O_DIRECT reads`);
  // O_DIRECT reads whole blocks at aligned offsets into aligned memory: chunks of whole blocks,
  // the data a block into its buffer with the headroom just before it (the last read asks for a
  // whole chunk and gets what is left).
  const dataBytes = direct
    ? Math.max(DIRECT_ALIGN, Math.floor(Math.min(options.chunkBytes, size) / DIRECT_ALIGN) * DIRECT_ALIGN)
    : Math.max(1, Math.min(options.chunkBytes, size));
  const dataAt = direct ? DIRECT_ALIGN : headroom;
  const pool: Buffer[] = [];
  const take = () => pool.pop() ?? (direct ? takeAlignedBuffer(DIRECT_ALIGN + dataBytes) : Buffer.allocUnsafeSlow(headroom + dataBytes));
  let done = false;
  const give = (buf: Buffer) => {
    if (!done && pool.length < POOL_BUFFERS && !pool.includes(buf)) pool.push(buf);
    // Aligned buffers released late (after the read, or past the pool) go back to the shared
    // pool rather than to the GC, which frees a slab only once all of its buffers are garbage.
    else if (direct) giveAlignedBuffer(buf);
  };
  const readAt = async (position: number): Promise<{ buf: Buffer; bytesRead: number }> => {
    const buf = take();
    const { bytesRead } = await fh.read(buf, dataAt, direct ? dataBytes : Math.min(dataBytes, size - position), position);
    return { buf, bytesRead };
  };

  let position = 0;
  let ahead = size > 0 ? readAt(0) : undefined;
  try {
    while (ahead) {
      options.signal?.throwIfAborted();
      const read = await ahead;
      ahead = undefined;
      const buf = read.buf;
      // A direct read asks for whole blocks: bytes past `size` (a file longer than recorded) are not the artifact's.
      const bytesRead = Math.min(read.bytesRead, size - position);
      if (bytesRead <= 0) {
        if (direct) pool.push(buf);
        return;
      }
      position += bytesRead;
      if (position < size) ahead = readAt(position);
      let released = false;
      yield {
        data: buf.subarray(dataAt, dataAt + bytesRead),
        withHeadroom: buf.subarray(dataAt - headroom, dataAt + bytesRead),
        release: () => {
          if (released) return;
          released = true;
          give(buf);
        },
      };
    }
  } finally {
    // The read ahead must finish before the caller closes the descriptor.
    const last = await ahead?.catch(() => undefined);
    done = true;
    if (direct) {
      if (last) pool.push(last.buf);
      for (const buf of pool) giveAlignedBuffer(buf);
    }
  }
}
