// Artifact files written and read with O_DIRECT, through page-aligned buffers, around the page cache.
//
// A buffered write copies every byte into page-cache pages the kernel allocates as it goes; on
// this VM a page it has not used lately (or that the host took back) costs about 2 ms of system
// time per MiB, as much as the whole server spends per MiB uploaded, and a 500 MiB upload's
// speed swung 4× with it (BENCHMARKS.md, registry). O_DIRECT writes go from our buffers to the
// device (1.1-1.4 GB/s here with 4 MiB writes, against 0.38-2.1 GB/s buffered + fdatasync), at
// the price of one copy of each chunk into an aligned buffer, and model weights written once
// do not push the service's working set out of the page cache (MinIO writes objects the same way).
// Reads go the same way, or each download would fill fresh page-cache pages instead.
// Buffered files (registry.directIo: false) are written from the same buffers, so that the hash
// worker reads them in place either way (artifact-io.ts).
import { constants as fsConstants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { collectAll } from "../platform/young-gc.js";
import { stopHashWorkerIfIdle } from "./hash-worker.js";

/** Alignment of O_DIRECT buffers, offsets and lengths: a page covers any device's logical block. */
export const DIRECT_ALIGN = 4096;
/** Bytes per aligned write buffer. */
export const DIRECT_BUFFER_BYTES = 1024 * 1024;
/** Free buffers of each size kept for the next transfers (of all together); more are left to the GC. */
const POOL_BUFFERS = 8;
const WASM_PAGE = 64 * 1024;
/**
 * Buffers are cut from WebAssembly memories of this size (or one buffer's, if larger): each
 * memory reserves ~10 GiB of address space for its guard regions and V8 allows about 1 TiB in
 * all, so one memory per buffer would cap the transfers in flight at about a hundred buffers.
 * A slab's pages are resident once used, until the slab is freed with the last of its buffers.
 */
const SLAB_BYTES = 8 * 1024 * 1024;
/** After this long without a transfer taking a buffer, the free ones are dropped (their slabs with them). */
const IDLE_DROP_MS = 10_000;

const pools = new Map<number, Buffer[]>();
/** Per buffer size: the slab being cut, and where its next buffer starts. */
const slabs = new Map<number, { memory: SharedArrayBuffer; next: number }>();
let idleTimer: NodeJS.Timeout | undefined;

/**
 * A buffer of at least `minBytes` (a whole number of 64 KiB) at a page-aligned address.
 * JavaScript cannot see addresses, but a WebAssembly memory is a mapping of its own, so its
 * first byte starts a page, and so does every 64 KiB after it.
 */
export function takeAlignedBuffer(minBytes: number): Buffer {
  idleTimer?.refresh();
  idleTimer ??= setTimeout(() => void dropFreeAlignedBuffers(), IDLE_DROP_MS).unref();
  const size = Math.max(1, Math.ceil(minBytes / WASM_PAGE)) * WASM_PAGE;
  const pooled = pools.get(size)?.pop();
  if (pooled) return pooled;
  let slab = slabs.get(size);
  if (!slab || slab.next + size > slab.memory.byteLength) {
    const pages = Math.max(SLAB_BYTES, size) / WASM_PAGE;
    // Shared, so the hash worker (hash-worker.ts) reads the bytes where they are.
    slab = { memory: new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer as unknown as SharedArrayBuffer, next: 0 };
    slabs.set(size, slab);
  }
  const buf = Buffer.from(slab.memory, slab.next, size);
  slab.next += size;
  return buf;
}

/** Gives back a buffer of takeAlignedBuffer that no one reads or writes any more. */
export function giveAlignedBuffer(buf: Buffer): void {
  let pool = pools.get(buf.byteLength);
  if (!pool) pools.set(buf.byteLength, (pool = []));
  if (pool.length < POOL_BUFFERS && !pool.some((b) => b.buffer === buf.buffer && b.byteOffset === buf.byteOffset)) pool.push(buf);
}

/**
 * Forgets the free buffers and the slabs being cut, so that a burst of transfers does not keep
 * its memory resident for good: each slab is freed once the buffers still in use are given back
 * (which then go to the GC). Runs by itself after IDLE_DROP_MS without a transfer, and then
 * lets the slabs go at once: left alone, an 8 MiB slab stayed resident until the next transfer's
 * collections, which had cut a new one meanwhile (6 MiB more at that transfer's peak,
 * BENCHMARKS.md, registry). The idle hash worker, which holds them too, stops (the promise
 * settles once it has), and this thread's heap is collected.
 */
export function dropFreeAlignedBuffers(): Promise<void> {
  clearTimeout(idleTimer);
  idleTimer = undefined;
  const held = slabs.size > 0 || pools.size > 0;
  pools.clear();
  slabs.clear();
  if (!held) return Promise.resolve();
  const stopped = stopHashWorkerIfIdle();
  collectAll();
  return stopped;
}

/** Opens an artifact file for reading, with O_DIRECT where the filesystem takes it. */
export async function openArtifactFile(file: string, options: { direct: boolean }): Promise<{ fh: FileHandle; direct: boolean }> {
  const directFlag = fsConstants.O_DIRECT;
  if (options.direct && directFlag !== undefined) {
    try {
      return { fh: await open(file, fsConstants.O_RDONLY | directFlag), direct: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
    }
  }
  return { fh: await open(file, fsConstants.O_RDONLY), direct: false };
}

/**
 * Creates a new file (failing if it exists) for writing, with O_DIRECT where the filesystem
 * takes it (tmpfs and some network filesystems refuse it: EINVAL), buffered otherwise.
 */
export async function createArtifactFile(file: string, options: { direct: boolean }): Promise<{ fh: FileHandle; direct: boolean }> {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL;
  const directFlag = fsConstants.O_DIRECT;
  if (options.direct && directFlag !== undefined) {
    try {
      return { fh: await open(file, flags | directFlag, 0o666), direct: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
      // Linux may have created the file before it refused O_DIRECT: this open is the same file.
      return { fh: await open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o666), direct: false };
    }
  }
  return { fh: await open(file, flags, 0o666), direct: false };
}
