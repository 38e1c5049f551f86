// Moving artifact bytes between the network and a file with few copies and few syscalls:
// uploads queue received chunks and write them with one writev per batch, hashing as they
// arrive; downloads read large blocks into a small pool of buffers, one read ahead.
import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { DIRECT_ALIGN, DIRECT_BUFFER_BYTES, giveAlignedBuffer, takeAlignedBuffer } from "./direct-io.js";
import type { ReadChunk } from "./storage.js";

/** Most iovecs one writev(2) takes (IOV_MAX on Linux). */
const IOV_MAX = 1024;

// Received chunks whose memory the writer frees as soon as they are on disk, or copied into an
// aligned buffer in direct mode (see freeOnceWritten).
const freedOnceWritten = new WeakSet<Uint8Array>();
/** Chunks smaller than this are not worth freeing early (and may share a pooled allocation). */
const FREE_EARLY_MIN_BYTES = 64 * 1024;
/** Bytes an ArrayBuffer may hold beyond the chunk (the message's framing and its other fields). */
const FREE_EARLY_SLACK_BYTES = 4096;

/**
 * Marks a received chunk whose ArrayBuffer holds nothing else anyone reads later (grpc-js
 * reassembles each request message into a buffer of its own): once the writer has written it
 * (in direct mode: copied it), it detaches that buffer, which frees the memory at once. Left to the garbage collector, a
 * chunk that waited for the disk across two young-generation collections is promoted, and its
 * MiB stays resident until the next full collection: tens of MiB during an upload.
 * Chunks that are small or share their buffer with other bytes are left alone.
 */
export function freeOnceWritten(chunk: Uint8Array): void {
  if (chunk.byteLength >= FREE_EARLY_MIN_BYTES && chunk.buffer.byteLength - chunk.byteLength <= FREE_EARLY_SLACK_BYTES && chunk.buffer instanceof ArrayBuffer) {
    freedOnceWritten.add(chunk);
  }
}

/** ES2024's ArrayBuffer methods (Node 21+), not in the compiler's lib yet. */
type DetachableBuffer = ArrayBuffer & { readonly detached: boolean; transfer(newLength?: number): ArrayBuffer };

function freeWritten(batch: readonly Uint8Array[]): void {
  for (const b of batch) {
    if (!freedOnceWritten.has(b)) continue;
    const buffer = b.buffer as DetachableBuffer;
    // Detaching moves the bytes to a new, empty buffer: the old allocation is freed now.
    if (!buffer.detached) buffer.transfer(0);
  }
}

/**
 * Writes one artifact file from a stream of chunks and hashes it on the way.
 *
 * Chunks are not copied: each is kept by reference until written (the caller must not change
 * it afterwards, which holds for received request bytes). Whatever has queued while a write is
 * in flight leaves in the next writev, so many small chunks cost one syscall. At most
 * `highWaterMark` bytes wait: beyond that `write` waits for the disk, and so does the client.
 * A write error is reported by the next `write` or by `finish`.
 */
export class ArtifactFileWriter {
  private readonly hash: Hash = createHash("sha256");
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private inFlightBytes = 0;
  private position = 0;
  private flushing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private waiters: (() => void)[] = [];
  private bytes = 0;
  /** Direct mode: the aligned buffer being filled, and how much of it is. */
  private stage: Buffer | undefined;
  private staged = 0;

  /**
   * `direct`: the file was opened with O_DIRECT (direct-io.ts): chunks are copied into aligned
   * buffers and written a whole buffer at a time; the tail is written padded, then truncated.
   */
  constructor(
    private readonly fh: FileHandle,
    private readonly highWaterMark: number,
    private readonly direct = false,
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
    this.hash.update(chunk);
    if (this.direct) this.copyToStages(chunk);
    else this.enqueue(chunk);
    while (this.queuedBytes + this.inFlightBytes > this.highWaterMark && this.flushing) {
      // Woken after each write, not once the whole queue is out: the disk never runs dry.
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.throwIfFailed();
    }
  }

  /** Writes what is queued, makes the file durable (fdatasync) and returns its size and SHA-256. */
  async finish(): Promise<{ sizeBytes: number; sha256: string }> {
    if (this.direct && this.staged > 0) {
      // O_DIRECT writes whole blocks: the tail goes out padded, and the file is cut back to size.
      const padded = Math.ceil(this.staged / DIRECT_ALIGN) * DIRECT_ALIGN;
      this.enqueue(this.stage!.subarray(0, padded));
      this.stage = undefined;
      this.staged = 0;
    }
    await this.drain();
    if (this.direct && this.position !== this.bytes) await this.fh.truncate(this.bytes);
    await this.fh.datasync();
    return { sizeBytes: this.bytes, sha256: this.hash.digest("hex") };
  }

  /** Direct mode: the aligned buffer a queued write is, or is the start of (the padded tail). */
  private alignedOf(queued: Uint8Array): Buffer {
    return Buffer.from(queued.buffer, queued.byteOffset, DIRECT_BUFFER_BYTES);
  }

  private enqueue(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.byteLength;
    this.flushing ??= this.flush();
  }

  /** Direct mode: copies the chunk into aligned buffers, queueing each one that fills. */
  private copyToStages(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.byteLength; ) {
      this.stage ??= takeAlignedBuffer(DIRECT_BUFFER_BYTES);
      const n = Math.min(chunk.byteLength - at, this.stage.byteLength - this.staged);
      this.stage.set(chunk.subarray(at, at + n), this.staged);
      this.staged += n;
      at += n;
      if (this.staged === this.stage.byteLength) {
        this.enqueue(this.stage);
        this.stage = undefined;
        this.staged = 0;
      }
    }
    // Copied: a chunk marked to be freed once written can go now.
    freeWritten([chunk]);
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
    if (this.direct) for (const b of this.queue) giveAlignedBuffer(this.alignedOf(b));
    if (this.stage) giveAlignedBuffer(this.stage);
    this.stage = undefined;
    this.staged = 0;
    this.queue = [];
    this.queuedBytes = 0;
    this.failure ??= { error: new Error("the artifact write was abandoned") };
    while (this.flushing) await this.flushing.catch(() => undefined);
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
        if (this.direct) for (const b of batch) giveAlignedBuffer(this.alignedOf(b));
        else freeWritten(batch);
        this.position += size;
        this.inFlightBytes = 0;
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
  const give = (buf: Buffer) => {
    if (pool.length < POOL_BUFFERS && !pool.includes(buf)) pool.push(buf);
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
    if (direct) {
      if (last) pool.push(last.buf);
      for (const buf of pool) giveAlignedBuffer(buf);
    }
  }
}
