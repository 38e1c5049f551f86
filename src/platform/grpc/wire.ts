// gRPC over one HTTP/2 stream of our own transport (h2/connection.ts): the request's
// length-prefixed messages read with backpressure, response headers, messages and the
// status sent as the gRPC protocol frames them (PROTOCOL-HTTP2.md in grpc/grpc).
import zlib from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { H2Stream } from "./h2/connection.js";
import { HpackEncoder } from "./h2/hpack.js";

const MESSAGE_PREFIX_BYTES = 5;
// Complete request messages a call may hold that its handler has not taken; past either
// bound the client is granted no more window until the handler reads.
const HELD_MESSAGES = 32;
const HELD_BYTES = 1 << 20;
// Response messages up to this size are copied behind their prefix (one buffer, one write).
const COPY_BELOW_BYTES = 16 * 1024;

const HEADERS_OK = [
  [":status", "200"],
  ["content-type", "application/grpc"],
] as const;

/** The request's fields a call needs, read once from the header list. */
export interface RequestHead {
  readonly path: string;
  readonly timeout: string | undefined;
  readonly encoding: string | undefined;
  /** Names and values alternating, as received. */
  readonly fields: readonly string[];
}

export interface WireOptions {
  readonly maxMessageBytes: number;
}

/** One gRPC call: its request messages, and the one response it sends. */
export class GrpcCall {
  /** True once the client reset the stream or the connection went away before the status. */
  cancelled = false;
  private cancelListeners: (() => void)[] | undefined;
  private headersSent = false;
  private statusSent = false;
  // Reading.
  /** Size of the message being read, -1 between messages. */
  private expected = -1;
  private compressed = false;
  private prefix: Buffer | undefined;
  private message: Buffer | undefined;
  private messageFill = 0;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private unconsumed = 0;
  private ended = false;
  private failure: ConnectError | undefined;
  private waiter: (() => void) | undefined;

  constructor(
    readonly stream: H2Stream,
    readonly head: RequestHead,
    readonly opts: WireOptions,
  ) {
    stream.onData = (chunk) => this.onData(chunk);
    stream.onEnd = () => {
      this.ended = true;
      this.wake();
    };
    stream.onAbort = () => {
      if (this.statusSent) return;
      this.cancelled = true;
      this.wake();
      const listeners = this.cancelListeners;
      this.cancelListeners = undefined;
      if (listeners) for (const l of listeners) l();
    };
  }

  /** Runs `listener` once if the call is cancelled before its status is sent. */
  once(_event: "cancelled", listener: () => void): void {
    (this.cancelListeners ??= []).push(listener);
  }

  /** The request header's value for `name` (lower case), the first if repeated. */
  header(name: string): string | undefined {
    const f = this.head.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1];
    return undefined;
  }

  /** The request's metadata as Headers (pseudo-headers left out), binary values in base64 as on the wire. */
  headers(): Headers {
    const headers = new Headers();
    const f = this.head.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i].charCodeAt(0) !== 58 /* : */) headers.append(f[i], f[i + 1]);
    return headers;
  }

  // ---- request messages ----

  /**
   * The next request message, undefined once the client has sent them all, or throws the
   * reason the call cannot go on (a message too large or unreadable, a cancelled call).
   */
  async read(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.held.length > 0) return this.take();
      if (this.failure) throw this.failure;
      if (this.cancelled) throw new ConnectError("the client cancelled the call", Code.Canceled);
      if (this.ended) {
        if (this.prefix || this.expected >= 0) throw new ConnectError("the request ended inside a message", Code.InvalidArgument);
        return undefined;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** The one message of a unary or server-streaming request. */
  async readOne(): Promise<Buffer> {
    const first = await this.read();
    if (!first) throw new ConnectError("the request has no message", Code.InvalidArgument);
    if ((await this.read()) !== undefined) throw new ConnectError("the request has more than one message", Code.InvalidArgument);
    return first;
  }

  private take(): Buffer {
    const m = this.held.shift()!;
    this.heldBytes -= m.length;
    if (this.unconsumed > 0 && this.held.length < HELD_MESSAGES && this.heldBytes < HELD_BYTES) {
      this.stream.consumed(this.unconsumed);
      this.unconsumed = 0;
    }
    return m;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return this.stream.consumed(chunk.length);
    const length = chunk.length;
    let offset = 0;
    try {
      while (offset < length) {
        if (this.expected < 0) {
          // The 5-byte prefix, possibly split across frames.
          if (!this.prefix && length - offset >= MESSAGE_PREFIX_BYTES) {
            this.startMessage(chunk, offset);
            offset += MESSAGE_PREFIX_BYTES;
          } else {
            const have = this.prefix ? this.prefix.length : 0;
            const part = chunk.subarray(offset, offset + MESSAGE_PREFIX_BYTES - have);
            this.prefix = this.prefix ? Buffer.concat([this.prefix, part]) : Buffer.from(part);
            offset += part.length;
            if (this.prefix.length < MESSAGE_PREFIX_BYTES) break;
            const p = this.prefix;
            this.prefix = undefined;
            this.startMessage(p, 0);
          }
          if (this.expected === 0) this.completeMessage(EMPTY);
          continue;
        }
        const n = Math.min(this.expected - this.messageFill, length - offset);
        if (!this.message) {
          // The whole message is in this chunk: no copy.
          if (n === this.expected) {
            offset += n;
            this.completeMessage(chunk.subarray(offset - n, offset));
            continue;
          }
          this.message = Buffer.allocUnsafe(this.expected);
        }
        chunk.copy(this.message, this.messageFill, offset, offset + n);
        this.messageFill += n;
        offset += n;
        if (this.messageFill === this.expected) {
          const m = this.message;
          this.message = undefined;
          this.completeMessage(m);
        }
      }
    } catch (err) {
      this.failure = ConnectError.from(err);
      this.held.length = 0;
      this.heldBytes = 0;
    }
    // Bytes of messages the handler has not taken wait for it; the rest are granted again now.
    if (this.held.length >= HELD_MESSAGES || this.heldBytes >= HELD_BYTES) this.unconsumed += length;
    else this.stream.consumed(length);
    this.wake();
  }

  private startMessage(buf: Buffer, at: number): void {
    const flag = buf[at];
    const size = buf.readUInt32BE(at + 1);
    if (flag > 1) throw new ConnectError(`invalid message flag ${flag}`, Code.InvalidArgument);
    if (size > this.opts.maxMessageBytes) throw new ConnectError(`Received message larger than max (${size} vs. ${this.opts.maxMessageBytes})`, Code.ResourceExhausted);
    this.compressed = flag === 1;
    this.expected = size;
    this.messageFill = 0;
  }

  private completeMessage(m: Buffer): void {
    this.expected = -1;
    if (this.compressed) m = this.decompress(m);
    this.held.push(m);
    this.heldBytes += m.length;
  }

  /** gzip and deflate (what gRPC's clients send), decompressed at once: bounded by server.maxMessageBytes. */
  private decompress(m: Buffer): Buffer {
    const encoding = this.head.encoding;
    const options = { maxOutputLength: this.opts.maxMessageBytes };
    try {
      if (encoding === "gzip") return zlib.gunzipSync(m, options);
      if (encoding === "deflate") return zlib.inflateSync(m, options);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new ConnectError(`Received message larger than max (decompressed past ${this.opts.maxMessageBytes})`, Code.ResourceExhausted);
      throw new ConnectError(`Failed to decompress message: ${(err as Error).message}`, Code.InvalidArgument);
    }
    throw new ConnectError(`a compressed message without a known grpc-encoding (${encoding ?? "none"})`, Code.Unimplemented);
  }

  // ---- response ----

  get done(): boolean {
    return this.statusSent || this.cancelled;
  }

  /** Response headers: gRPC's own, then `metadata` (the handler's, if any). */
  sendHeaders(metadata?: Headers): void {
    if (this.headersSent || this.done) return;
    this.headersSent = true;
    this.stream.sendHeaders(metadata ? encoder.encode([...HEADERS_OK, ...metadataFields(metadata)]) : HEADERS_OK_BLOCK, false);
  }

  /** One response message (encoded); `sent` runs once HTTP/2 has taken it. */
  sendMessage(bytes: Uint8Array, sent?: () => void): void {
    if (this.done) return;
    if (!this.headersSent) this.sendHeaders();
    const size = bytes.byteLength;
    if (size < COPY_BELOW_BYTES) {
      const framed = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + size);
      framed[0] = 0;
      framed.writeUInt32BE(size, 1);
      framed.set(bytes, MESSAGE_PREFIX_BYTES);
      this.stream.sendData(framed, sent);
      return;
    }
    const prefix = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES);
    prefix[0] = 0;
    prefix.writeUInt32BE(size, 1);
    this.stream.sendData(prefix);
    this.stream.sendData(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, size), sent);
  }

  /** Ends the call with its status: OK without `err`. `trailers` are the handler's. */
  sendStatus(err: ConnectError | undefined, trailers?: Headers): void {
    if (this.done) return;
    this.statusSent = true;
    if (this.headersSent) {
      this.stream.sendTrailers(!err && !trailers ? TRAILERS_OK : encoder.encode(statusFields(err, trailers)));
    } else {
      // Trailers-only: the status in the response's only HEADERS frame.
      this.stream.sendHeaders(encoder.encode([...HEADERS_OK, ...statusFields(err, trailers)]), true);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The status fields and the handler's trailers. connect-es writes grpc-status-details-bin
 * (so its bytes are the Connect side's); grpc-message is percent-encoded as the gRPC
 * protocol says (only bytes outside printable ASCII, and %), which every client decodes.
 */
function statusFields(err: ConnectError | undefined, trailers: Headers | undefined): [string, string][] {
  const headers = setTrailerStatus(trailers ? new Headers(trailers) : new Headers(), err);
  if (err) headers.set("grpc-message", percentEncode(err.rawMessage));
  return metadataFields(headers);
}

function percentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function metadataFields(headers: Headers): [string, string][] {
  const fields: [string, string][] = [];
  headers.forEach((value, name) => void fields.push([name, value]));
  return fields;
}

// Our encoder never indexes (h2/hpack.ts): a block is the same on every connection, and
// the blocks every plain call sends are built once.
const encoder = new HpackEncoder();
const HEADERS_OK_BLOCK = encoder.encode(HEADERS_OK);
const TRAILERS_OK = encoder.encode([["grpc-status", "0"]]);
