// The server side of one HTTP/2 connection (RFC 9113) on a socket, for gRPC: frames read
// and written by hand, so that a unary response (HEADERS, DATA, trailers) leaves in one
// socket write. node:http2 defers trailers to a later turn of the event loop and costs
// about 75 µs per call over this on a 2-core machine (BENCHMARKS.md, floor probe).
//
// Flow control both ways: what a client may send is bounded by the windows we grant, and
// we grant again only as the call layer takes request bytes (consumed()), so a handler
// that stops reading stops its client. Responses wait for the client's windows and for the
// socket to drain. Every header block is decoded, even of streams we refuse, to keep the
// HPACK table in step with the client's.
import type { Duplex } from "node:stream";
import { HpackDecoder, HpackError } from "./hpack.js";
import { contentLength, malformedFields } from "./request-fields.js";
import {
  CLIENT_PREFACE,
  ConnectionError,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  H2Error,
  MAX_WINDOW_BYTES,
  SETTINGS_ACK,
  Setting,
  frame,
  goawayFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";

export interface ConnectionOptions {
  /** Receive window of each stream, granted in SETTINGS. */
  readonly streamWindowBytes: number;
  /** Receive window of the connection, granted at start. */
  readonly connectionWindowBytes: number;
  readonly maxConcurrentStreams: number;
  /** Largest decoded header list a request may carry (RFC 9113 §6.5.2). */
  readonly maxHeaderListBytes: number;
  /** How often the server pings the client (0: never), as grpc-js's keepalive does. */
  readonly keepaliveTimeMs: number;
  /** A ping unanswered this long closes the connection. */
  readonly keepaliveTimeoutMs: number;
  /** A client pinging more often than this with no calls open is told to calm down (0: no check). */
  readonly minClientPingIntervalMs: number;
}

/** What the connection hands to the call layer. */
export interface StreamListener {
  /** A request's headers: names and values alternating, in order. */
  onRequest(stream: H2Stream, fields: string[], endStream: boolean): void;
}

// Output the socket may hold unsent before the connection stops reading: a client that
// sends (pings, window updates, requests) but does not read its answers is held back by
// TCP instead of growing our memory. Reading resumes once the socket drains.
const MAX_UNSENT_BYTES = 4 << 20;
// Header blocks as received (compressed) are capped at twice the decoded list limit.
const HEADER_BLOCK_FACTOR = 2;
// Streams the client closed itself, remembered so that frames it sends on them later are its
// mistake (STREAM_CLOSED); older ones, and the streams we closed first, are ignored instead.
const CLOSED_BY_CLIENT_REMEMBERED = 1024;
// Runs of stream ids a client skipped (opening 7 after 1 closes 3 and 5 unused). HEADERS on
// one of them is an id lower than one already opened: a connection error (RFC 9113 §5.1.1).
// Clients count up by two, so there are seldom any; past this many, the oldest are forgotten.
const SKIPPED_RUNS_REMEMBERED = 64;
// Streams a client may reset within one window of RESETS_WINDOW streams before the
// connection is ended (the "rapid reset" attack, CVE-2023-44487).
const RESETS_WINDOW = 1000;
const MAX_RESETS_PER_WINDOW = 500;
// Go's and gRPC core's rule: more than this many pings too soon, and the connection ends.
const MAX_PING_STRIKES = 2;
// A dynamic table size update to 0, at the start of our first header block: the client's
// decoder table stays empty whatever it advertises (our encoder never indexes).
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

// Body bytes one turn hands to the socket at most; the rest waits for the next turn.
const MAX_TURN_BYTES = 1 << 20;
// Writes of one turn up to this many bytes are copied into one buffer.
const COALESCE_BELOW_BYTES = 16 * 1024;

const call = (f: () => void) => f();

// Not a frame flag: marks a HEADERS frame whose priority names its own stream.
const SELF_DEPENDENT = 0x100;

const PING_ACK_HEADER = Buffer.from([0, 0, 8, FrameType.Ping, Flag.Ack, 0, 0, 0, 0]);

interface QueuedData {
  data: Buffer;
  offset: number;
  callback: (() => void) | undefined;
}

export class H2Stream {
  /** Request body bytes: set by the call layer before it returns from onRequest. */
  onData: (chunk: Buffer) => void = noop;
  /** The client ended its side (END_STREAM). */
  onEnd: () => void = noop;
  /** The stream is gone before we ended it: the client reset it, or the connection closed. */
  onAbort: (code: H2Error) => void = noop;

  /** Window the client granted us for this stream. */
  sendWindow: number;
  /** What the client may still send on this stream before we grant more. */
  recvWindow: number;
  /** Bytes taken by the call layer and not yet granted again. */
  private unacked = 0;
  remoteClosed = false;
  localClosed = false;
  /** The client closed its side itself (END_STREAM or RST_STREAM): it may send nothing more. */
  clientEnded = false;
  readonly queue: QueuedData[] = [];
  trailers: Buffer | undefined;

  /** Body bytes received, checked against the request's content-length if it has one. */
  received = 0;

  constructor(
    readonly id: number,
    private readonly conn: H2Connection,
    sendWindow: number,
    recvWindow: number,
    /** The request's content-length, -1 without one. */
    readonly contentLength: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The call layer took `n` bytes of request body: the client may send them again. */
  consumed(n: number): void {
    this.conn.consumed(n);
    if (this.remoteClosed || this.localClosed) return;
    this.unacked += n;
    if (this.unacked >= this.conn.streamWindowBytes >>> 2) {
      this.recvWindow += this.unacked;
      this.conn.write(windowUpdateFrame(this.id, this.unacked));
      this.unacked = 0;
    }
  }

  /** Sends response headers (an encoded block); with `endStream`, a trailers-only response. */
  sendHeaders(block: Buffer, endStream: boolean): void {
    if (this.localClosed) return;
    this.conn.sendHeaderBlock(this.id, block, endStream);
    if (endStream) this.conn.closeLocal(this);
  }

  /** Queues body bytes; `callback` runs once the socket has written them. */
  sendData(data: Buffer, callback?: () => void): void {
    if (this.localClosed) return;
    if (data.length === 0) return void (callback && process.nextTick(callback));
    this.queue.push({ data, offset: 0, callback });
    this.conn.flush(this);
  }

  /** Ends the stream with trailers, after the queued body. */
  sendTrailers(block: Buffer): void {
    if (this.localClosed || this.trailers) return;
    this.trailers = block;
    this.conn.flush(this);
  }

  /** Ends the stream after the queued body, without trailers (an empty DATA frame ends it). */
  end(): void {
    this.sendTrailers(NO_TRAILERS);
  }

  /** True while body bytes wait for windows or the socket. */
  get pending(): boolean {
    return this.queue.length > 0;
  }
}

const noop = () => {};
/** The trailers of a stream ended without any (H2Stream.end). */
const NO_TRAILERS = Buffer.alloc(0);

export class H2Connection {
  private readonly streams = new Map<number, H2Stream>();
  private readonly closedByClient = new Set<number>();
  /** Stream ids the client skipped, as [first, last] runs, oldest first. */
  private readonly skippedIds: [number, number][] = [];
  private readonly decoder: HpackDecoder;
  private buffered: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  /** The stream whose header block is being received (HEADERS without END_HEADERS). */
  private continuing: { id: number; flags: number; fragments: Buffer[]; bytes: number } | undefined;
  private lastStreamId = 0;
  private goawaySent = false;
  private closed = false;
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  private peerMaxFrame = DEFAULT_MAX_FRAME_BYTES;
  private sendWindow = DEFAULT_WINDOW_BYTES;
  private recvWindow = DEFAULT_WINDOW_BYTES;
  private unackedConnection = 0;
  private tableSizeSent = false;
  /** Streams with body bytes waiting for the connection window or the socket. */
  private readonly blocked = new Set<H2Stream>();
  /** Bytes written this turn, not yet handed to the socket (see flushOut). */
  private out: Buffer[] = [];
  private outBytes = 0;
  private outWritten: (() => void)[] = [];
  private resetsInWindow = 0;
  private streamsInWindow = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private pingTimeout: NodeJS.Timeout | undefined;
  private lastPingAt = 0;
  private pingStrikes = 0;
  private sentDataSincePing = true;
  private failed = false;
  /** Reading stopped until the socket drains (see MAX_UNSENT_BYTES). */
  private readPaused = false;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: ConnectionOptions,
    private readonly listener: StreamListener,
    /** The connection is gone (closed or destroyed). */
    private readonly onClose: () => void,
    /** A fault of ours while serving the connection (it ends with INTERNAL_ERROR). */
    private readonly onInternalError: (err: unknown) => void,
  ) {
    this.decoder = new HpackDecoder();
    socket.on("data", this.onSocketData);
    socket.on("drain", this.onDrain);
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
    this.write(
      settingsFrame([
        [Setting.MaxConcurrentStreams, opts.maxConcurrentStreams],
        [Setting.InitialWindowSize, opts.streamWindowBytes],
        [Setting.MaxHeaderListSize, opts.maxHeaderListBytes],
        [Setting.EnablePush, 0],
      ]),
    );
    if (opts.connectionWindowBytes > DEFAULT_WINDOW_BYTES) {
      this.write(windowUpdateFrame(0, opts.connectionWindowBytes - DEFAULT_WINDOW_BYTES));
      this.recvWindow = opts.connectionWindowBytes;
    }
    this.armKeepalive();
    socket.resume();
  }

  get streamWindowBytes(): number {
    return this.opts.streamWindowBytes;
  }

  /** GOAWAY: streams open go on, new ones are refused; the socket ends once none is left. */
  drain(): void {
    if (this.closed || this.goawaySent) return;
    this.goawaySent = true;
    this.write(goawayFrame(this.lastStreamId, H2Error.NoError));
    this.endIfIdle();
  }

  /** Closes the socket now; open streams are aborted. */
  destroy(): void {
    if (this.closed) return;
    this.closed = this.failed = true;
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.pingTimeout);
    this.socket.removeListener("data", this.onSocketData);
    this.socket.destroy();
    for (const s of this.streams.values()) {
      s.localClosed = s.remoteClosed = true;
      s.onAbort(H2Error.Cancel);
    }
    this.streams.clear();
    this.blocked.clear();
    this.onClose();
  }

  // ---- writing ----

  /**
   * Writes bytes, gathered with the others of this turn into one socket write; `written`
   * runs once the socket is done with them (until then their buffer must not change).
   */
  write(buf: Buffer, written?: () => void): void {
    if (this.closed) return;
    if (this.out.length === 0) process.nextTick(this.flushOut);
    this.out.push(buf);
    this.outBytes += buf.length;
    if (written) this.outWritten.push(written);
  }

  /**
   * Hands this turn's bytes to the socket: a few small frames (a unary call's response)
   * copied into one buffer, which costs less than the stream machinery of several writes;
   * large ones corked into one writev.
   */
  private readonly flushOut = () => {
    const out = this.out;
    const callbacks = this.outWritten;
    const bytes = this.outBytes;
    this.out = [];
    this.outWritten = [];
    this.outBytes = 0;
    if (this.closed || out.length === 0) return;
    const written = callbacks.length === 0 ? undefined : callbacks.length === 1 ? callbacks[0] : () => callbacks.forEach(call);
    if (out.length === 1) this.socket.write(out[0], written);
    else if (bytes <= COALESCE_BELOW_BYTES) this.socket.write(Buffer.concat(out, bytes), written);
    else {
      this.socket.cork();
      for (let i = 0; i < out.length - 1; i++) this.socket.write(out[i]);
      this.socket.write(out[out.length - 1], written);
      this.socket.uncork();
    }
    if (!this.readPaused && this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.readPaused = true;
      this.socket.pause();
    }
    // Streams held back only by this turn's share (not by the socket) go on.
    if (this.blocked.size > 0 && !this.socket.writableNeedDrain) this.flushBlocked();
  };

  sendHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    let prefix = 0;
    if (!this.tableSizeSent) {
      this.tableSizeSent = true;
      prefix = 1;
    }
    const length = prefix + block.length;
    if (length > this.peerMaxFrame) {
      this.sendLongHeaderBlock(id, prefix ? Buffer.concat([TABLE_SIZE_ZERO, block]) : block, endStream);
    } else {
      const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
      writeFrameHeader(f, 0, length, FrameType.Headers, Flag.EndHeaders | (endStream ? Flag.EndStream : 0), id);
      if (prefix) f[FRAME_HEADER_BYTES] = 0x20;
      block.copy(f, FRAME_HEADER_BYTES + prefix);
      this.write(f);
    }
    this.sentDataSincePing = true;
  }

  private sendLongHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    for (let offset = 0; offset < block.length; offset += this.peerMaxFrame) {
      const part = block.subarray(offset, offset + this.peerMaxFrame);
      const last = offset + this.peerMaxFrame >= block.length;
      const type = offset === 0 ? FrameType.Headers : FrameType.Continuation;
      const flags = (last ? Flag.EndHeaders : 0) | (offset === 0 && endStream ? Flag.EndStream : 0);
      this.write(frame(type, flags, id, part));
    }
  }

  /** Sends what `stream` has queued, as far as the windows and the socket allow. */
  flush(stream: H2Stream): void {
    if (this.closed) return;
    const q = stream.queue;
    while (q.length > 0) {
      if (this.socketFull()) return void this.blocked.add(stream);
      const item = q[0];
      const left = item.data.length - item.offset;
      const n = Math.min(left, this.peerMaxFrame, this.sendWindow, stream.sendWindow);
      if (n <= 0) return void this.blocked.add(stream);
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, n, FrameType.Data, 0, stream.id);
      this.write(header);
      const whole = item.offset + n === item.data.length;
      if (n > 0) this.write(item.offset === 0 && whole ? item.data : item.data.subarray(item.offset, item.offset + n), whole ? item.callback : undefined);
      this.sendWindow -= n;
      stream.sendWindow -= n;
      item.offset += n;
      if (whole) q.shift();
    }
    this.blocked.delete(stream);
    this.sentDataSincePing = true;
    if (stream.trailers && !stream.localClosed) {
      const block = stream.trailers;
      if (block === NO_TRAILERS) this.write(frame(FrameType.Data, Flag.EndStream, stream.id));
      else this.sendHeaderBlock(stream.id, block, true);
      this.closeLocal(stream);
    }
  }

  private socketFull(): boolean {
    return this.outBytes >= MAX_TURN_BYTES || this.socket.writableNeedDrain;
  }

  private readonly onDrain = () => {
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.flushBlocked();
  };

  private flushBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.sendWindow <= 0 || this.socketFull()) return;
      this.flush(s);
    }
  }

  consumed(n: number): void {
    if (this.closed) return;
    this.unackedConnection += n;
    if (this.unackedConnection >= this.opts.connectionWindowBytes >>> 2) {
      this.recvWindow += this.unackedConnection;
      this.write(windowUpdateFrame(0, this.unackedConnection));
      this.unackedConnection = 0;
    }
  }

  closeLocal(stream: H2Stream): void {
    stream.localClosed = true;
    stream.queue.length = 0;
    this.blocked.delete(stream);
    // The client is still sending: tell it to stop (RFC 9113 §8.1).
    if (!stream.remoteClosed) {
      stream.remoteClosed = true;
      this.write(rstStreamFrame(stream.id, H2Error.NoError));
    }
    this.forget(stream);
  }

  resetStream(stream: H2Stream, code: H2Error, byClient: boolean): void {
    const wasOpen = !(stream.localClosed && stream.remoteClosed);
    stream.localClosed = stream.remoteClosed = true;
    stream.queue.length = 0;
    this.blocked.delete(stream);
    if (!byClient) this.write(rstStreamFrame(stream.id, code));
    this.forget(stream);
    if (wasOpen) stream.onAbort(code);
  }

  private forget(stream: H2Stream): void {
    if (!(stream.localClosed && stream.remoteClosed)) return;
    this.streams.delete(stream.id);
    if (stream.clientEnded) {
      this.closedByClient.add(stream.id);
      if (this.closedByClient.size > CLOSED_BY_CLIENT_REMEMBERED) this.closedByClient.delete(this.closedByClient.values().next().value!);
    }
    this.endIfIdle();
  }

  /**
   * DATA or HEADERS on a stream no longer open: a connection error if the client had closed the
   * stream itself (RFC 9113 §5.1, "closed"); ignored if we closed it first (the client may have
   * sent them before it saw our END_STREAM or RST_STREAM).
   */
  private onClosedStream(id: number, frame: string): void {
    if (this.closedByClient.has(id)) throw new ConnectionError(H2Error.StreamClosed, `${frame} on a closed stream`);
  }

  private wasSkipped(id: number): boolean {
    return this.skippedIds.some(([first, last]) => id >= first && id <= last);
  }

  private endIfIdle(): void {
    if (!this.goawaySent || this.streams.size > 0 || this.closed) return;
    this.flushOut(); // the last status, before the end
    this.closed = true;
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.pingTimeout);
    this.socket.end();
    // A client that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose();
  }

  /** Ends the connection for a protocol error (GOAWAY with `code`). */
  private fail(code: H2Error, message: string): void {
    if (this.closed || this.failed) return;
    this.failed = this.goawaySent = true;
    this.socket.removeListener("data", this.onSocketData);
    this.write(goawayFrame(this.lastStreamId, code, message));
    // The GOAWAY leaves with this turn's writes; then the socket closes.
    process.nextTick(() => {
      if (this.closed) return;
      this.socket.end();
      setTimeout(() => this.destroy(), 1000).unref();
    });
    for (const s of this.streams.values()) {
      s.localClosed = s.remoteClosed = true;
      s.onAbort(code);
    }
    this.streams.clear();
    this.blocked.clear();
  }

  // ---- keepalive ----

  private armKeepalive(): void {
    if (this.opts.keepaliveTimeMs <= 0 || this.closed) return;
    clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = setTimeout(this.sendKeepalive, this.opts.keepaliveTimeMs);
    this.keepaliveTimer.unref();
  }

  private readonly sendKeepalive = () => {
    if (this.closed) return;
    this.write(frame(FrameType.Ping, 0, 0, KEEPALIVE_PING));
    this.pingTimeout = setTimeout(() => this.destroy(), this.opts.keepaliveTimeoutMs);
    this.pingTimeout.unref();
  };

  // ---- reading ----

  private readonly onSocketData = (chunk: Buffer) => {
    let buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.buffered = undefined;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < CLIENT_PREFACE.length) {
          if (!CLIENT_PREFACE.subarray(0, buf.length).equals(buf)) throw new ConnectionError(H2Error.ProtocolError, "not an HTTP/2 client preface");
          this.buffered = buf;
          return;
        }
        if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new ConnectionError(H2Error.ProtocolError, "not an HTTP/2 client preface");
        this.prefaceSeen = true;
        buf = buf.subarray(CLIENT_PREFACE.length);
      }
      let offset = 0;
      while (!this.closed && !this.failed && buf.length - offset >= FRAME_HEADER_BYTES) {
        const length = (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2];
        if (length > DEFAULT_MAX_FRAME_BYTES) throw new ConnectionError(H2Error.FrameSizeError, "frame larger than SETTINGS_MAX_FRAME_SIZE");
        const end = offset + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[offset + 3];
        const flags = buf[offset + 4];
        const id = buf.readUInt32BE(offset + 5) & 0x7fffffff;
        this.onFrame(type, flags, id, buf.subarray(offset + FRAME_HEADER_BYTES, end));
        offset = end;
      }
      if (offset < buf.length && !this.closed && !this.failed) this.buffered = Buffer.from(buf.subarray(offset));
    } catch (err) {
      if (err instanceof ConnectionError) return this.fail(err.code, err.message);
      if (err instanceof HpackError) return this.fail(H2Error.CompressionError, "malformed header block");
      // One connection's fault must not take the server down.
      this.onInternalError(err);
      this.fail(H2Error.InternalError, "internal error");
    }
  };

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.settingsSeen) {
      if (type !== FrameType.Settings || flags & Flag.Ack) throw new ConnectionError(H2Error.ProtocolError, "the client preface must be followed by SETTINGS");
      this.settingsSeen = true;
    }
    if (this.continuing && type !== FrameType.Continuation) throw new ConnectionError(H2Error.ProtocolError, "HEADERS not followed by CONTINUATION");
    switch (type) {
      case FrameType.Data:
        return this.onData(flags, id, payload);
      case FrameType.Headers:
        return this.onHeaders(flags, id, payload);
      case FrameType.Continuation:
        return this.onContinuation(flags, id, payload);
      case FrameType.Priority:
        if (id === 0) throw new ConnectionError(H2Error.ProtocolError, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new ConnectionError(H2Error.FrameSizeError, "PRIORITY of the wrong size");
        // Priorities are not followed; a stream depending on itself is still an error (RFC 9113 §5.3.1).
        if ((payload.readUInt32BE(0) & 0x7fffffff) === id) {
          const stream = this.streams.get(id);
          if (stream) this.resetStream(stream, H2Error.ProtocolError, false);
          else this.write(rstStreamFrame(id, H2Error.ProtocolError));
        }
        return;
      case FrameType.RstStream:
        return this.onRstStream(id, payload);
      case FrameType.Settings:
        return this.onSettings(flags, id, payload);
      case FrameType.PushPromise:
        throw new ConnectionError(H2Error.ProtocolError, "PUSH_PROMISE from a client");
      case FrameType.Ping:
        return this.onPing(flags, id, payload);
      case FrameType.Goaway:
        if (id !== 0) throw new ConnectionError(H2Error.ProtocolError, "GOAWAY on a stream");
        // The client opens no more streams; those open finish, then the socket ends.
        this.goawaySent = true;
        return this.endIfIdle();
      case FrameType.WindowUpdate:
        return this.onWindowUpdate(id, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Error.ProtocolError, "DATA on stream 0");
    this.recvWindow -= payload.length;
    if (this.recvWindow < 0) throw new ConnectionError(H2Error.FlowControlError, "DATA beyond the connection window");
    const stream = this.streams.get(id);
    let body = payload;
    if (flags & Flag.Padded) {
      if (payload.length < 1 || payload[0] >= payload.length) throw new ConnectionError(H2Error.ProtocolError, "padding longer than the frame");
      body = payload.subarray(1, payload.length - payload[0]);
    }
    if (!stream || stream.remoteClosed) {
      if (id > this.lastStreamId) throw new ConnectionError(H2Error.ProtocolError, "DATA on an idle stream");
      if (!stream) this.onClosedStream(id, "DATA");
      // A stream we ended or reset: its bytes still count against the connection's window.
      this.consumed(payload.length);
      // One the client had ended itself is its mistake (RFC 9113 §5.1, half-closed (remote)).
      if (stream) this.resetStream(stream, H2Error.StreamClosed, false);
      return;
    }
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) return this.resetStream(stream, H2Error.FlowControlError, false);
    stream.received += body.length;
    const end = (flags & Flag.EndStream) !== 0;
    if (stream.contentLength >= 0 && (stream.received > stream.contentLength || (end && stream.received !== stream.contentLength))) {
      // A body that is not as long as its content-length (RFC 9113 §8.1.1).
      this.consumed(payload.length);
      return this.resetStream(stream, H2Error.ProtocolError, false);
    }
    // Padding is consumed at once; the body when the call layer takes it.
    if (body.length !== payload.length) this.consumed(payload.length - body.length);
    if (body.length > 0) stream.onData(body);
    if (end) this.endRemote(stream);
  }

  private endRemote(stream: H2Stream): void {
    if (stream.remoteClosed) return;
    stream.remoteClosed = stream.clientEnded = true;
    stream.onEnd();
    this.forget(stream);
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Error.ProtocolError, "HEADERS on stream 0");
    let start = 0;
    let stop = payload.length;
    if (flags & Flag.Padded) {
      if (payload.length < 1) throw new ConnectionError(H2Error.ProtocolError, "malformed HEADERS");
      stop -= payload[start++];
    }
    if (flags & Flag.Priority) {
      // A stream that depends on itself is malformed (RFC 9113 §5.3.1); its block is still decoded.
      if (start + 4 <= payload.length && (payload.readUInt32BE(start) & 0x7fffffff) === id) flags |= SELF_DEPENDENT;
      start += 5;
    }
    if (start > stop) throw new ConnectionError(H2Error.ProtocolError, "padding longer than the frame");
    const fragment = payload.subarray(start, stop);
    if (flags & Flag.EndHeaders) return this.onHeaderBlock(id, flags, fragment);
    this.continuing = { id, flags, fragments: [Buffer.from(fragment)], bytes: fragment.length };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.continuing;
    if (!c || c.id !== id) throw new ConnectionError(H2Error.ProtocolError, "CONTINUATION without HEADERS");
    c.bytes += payload.length;
    if (c.bytes > this.opts.maxHeaderListBytes * HEADER_BLOCK_FACTOR) throw new ConnectionError(H2Error.EnhanceYourCalm, "header block too large");
    c.fragments.push(Buffer.from(payload));
    if (!(flags & Flag.EndHeaders)) return;
    this.continuing = undefined;
    this.onHeaderBlock(id, c.flags, Buffer.concat(c.fragments));
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const fields: string[] = [];
    const fits = this.decoder.decode(block, this.opts.maxHeaderListBytes, (name, value) => void fields.push(name, value));
    const endStream = (flags & Flag.EndStream) !== 0;
    const existing = this.streams.get(id);
    if (existing) {
      if (existing.remoteClosed) return this.resetStream(existing, H2Error.StreamClosed, false);
      // Trailers of a request: gRPC clients send none, but they end the stream.
      if (!endStream || malformedFields(fields, true)) return this.resetStream(existing, H2Error.ProtocolError, false);
      return this.endRemote(existing);
    }
    if ((id & 1) === 0) throw new ConnectionError(H2Error.ProtocolError, "a client stream with an even id");
    if (id <= this.lastStreamId) {
      if (this.wasSkipped(id)) throw new ConnectionError(H2Error.ProtocolError, "a new stream with an id lower than one already opened");
      // Headers of a stream already closed: decoded above, since the HPACK state must follow.
      return this.onClosedStream(id, "HEADERS");
    }
    if (id > this.lastStreamId + 2) {
      this.skippedIds.push([this.lastStreamId + 1, id - 2]);
      if (this.skippedIds.length > SKIPPED_RUNS_REMEMBERED) this.skippedIds.shift();
    }
    this.lastStreamId = id;
    if (this.goawaySent) return void this.write(rstStreamFrame(id, H2Error.RefusedStream));
    if (++this.streamsInWindow >= RESETS_WINDOW) this.streamsInWindow = this.resetsInWindow = 0;
    if (this.streams.size >= this.opts.maxConcurrentStreams) return void this.write(rstStreamFrame(id, H2Error.RefusedStream));
    // RFC 9113 §8.2.2 allows a 431 for a list too large; gRPC clients read a reset as well.
    if (!fits) return void this.write(rstStreamFrame(id, H2Error.EnhanceYourCalm));
    const length = contentLength(fields);
    if (flags & SELF_DEPENDENT || malformedFields(fields, false) || Number.isNaN(length) || (endStream && length > 0)) return void this.write(rstStreamFrame(id, H2Error.ProtocolError));
    const stream = new H2Stream(id, this, this.peerInitialWindow, this.opts.streamWindowBytes, length);
    this.streams.set(id, stream);
    this.pingStrikes = 0;
    if (endStream) stream.remoteClosed = stream.clientEnded = true;
    this.listener.onRequest(stream, fields, endStream);
    if (endStream && !stream.localClosed) stream.onEnd();
  }

  private onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Error.ProtocolError, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(H2Error.FrameSizeError, "RST_STREAM of the wrong size");
    if (id > this.lastStreamId) throw new ConnectionError(H2Error.ProtocolError, "RST_STREAM on an idle stream");
    const stream = this.streams.get(id);
    if (!stream) return;
    if (++this.resetsInWindow > MAX_RESETS_PER_WINDOW) throw new ConnectionError(H2Error.EnhanceYourCalm, "too many streams reset");
    stream.clientEnded = true;
    this.resetStream(stream, payload.readUInt32BE(0) as H2Error, true);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Error.ProtocolError, "SETTINGS on a stream");
    if (flags & Flag.Ack) {
      if (payload.length !== 0) throw new ConnectionError(H2Error.FrameSizeError, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FrameSizeError, "SETTINGS of the wrong size");
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      switch (key) {
        case Setting.EnablePush:
          if (value > 1) throw new ConnectionError(H2Error.ProtocolError, "SETTINGS_ENABLE_PUSH not 0 or 1");
          break;
        case Setting.InitialWindowSize: {
          if (value > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE too large");
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FlowControlError, "a stream window past 2^31-1");
          }
          break;
        }
        case Setting.MaxFrameSize:
          if (value < DEFAULT_MAX_FRAME_BYTES || value > 16_777_215) throw new ConnectionError(H2Error.ProtocolError, "SETTINGS_MAX_FRAME_SIZE out of range");
          this.peerMaxFrame = value;
          break;
        default:
          // Header table size: our encoder never indexes (its table is empty from our first block on).
          break;
      }
    }
    this.write(SETTINGS_ACK);
    if (this.blocked.size > 0) this.flushBlocked();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Error.ProtocolError, "PING on a stream");
    if (payload.length !== 8) throw new ConnectionError(H2Error.FrameSizeError, "PING of the wrong size");
    if (flags & Flag.Ack) {
      clearTimeout(this.pingTimeout);
      this.pingTimeout = undefined;
      this.armKeepalive();
      return;
    }
    this.policePing();
    this.write(PING_ACK_HEADER);
    this.write(Buffer.from(payload));
  }

  /** Go's and gRPC core's keepalive enforcement: pings with no calls open must not come too often. */
  private policePing(): void {
    const min = this.opts.minClientPingIntervalMs;
    if (min <= 0) return;
    const now = Date.now();
    const last = this.lastPingAt;
    this.lastPingAt = now;
    // A ping after we sent headers or data (a client measuring bandwidth) is never a strike.
    if (this.sentDataSincePing) {
      this.sentDataSincePing = false;
      this.pingStrikes = 0;
      return;
    }
    if (this.streams.size === 0 && now - last < min && ++this.pingStrikes > MAX_PING_STRIKES) {
      throw new ConnectionError(H2Error.EnhanceYourCalm, "too_many_pings");
    }
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FrameSizeError, "WINDOW_UPDATE of the wrong size");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.ProtocolError, "WINDOW_UPDATE of 0");
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(H2Error.FlowControlError, "connection window past 2^31-1");
      return this.flushBlocked();
    }
    const stream = this.streams.get(id);
    if (!stream) {
      if (id > this.lastStreamId) throw new ConnectionError(H2Error.ProtocolError, "WINDOW_UPDATE on an idle stream");
      return;
    }
    if (increment === 0) return this.resetStream(stream, H2Error.ProtocolError, false);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_BYTES) return this.resetStream(stream, H2Error.FlowControlError, false);
    if (stream.pending) this.flush(stream);
  }
}

const KEEPALIVE_PING = Buffer.from("openloop");
