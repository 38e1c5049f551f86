// Reads a new HTTP/2 connection up to the HEADERS of its first request and tells its
// content-type, so the listener can hand the whole connection to the server for that
// protocol (as Go's cmux does): application/grpc to the gRPC server, anything else to connect-node.
//
// Nothing is consumed: the bytes read are put back on the socket for the chosen server.
// Clients written in Go send nothing after their SETTINGS until the server's SETTINGS
// arrive; when no HEADERS come within a short grace period we send an empty SETTINGS
// frame, and strip the client's ACK of it before handing over (the server that takes the
// connection never sent those SETTINGS, and nghttp2 answers an unexpected ACK with GOAWAY).
// Eager clients (Node, browsers, grpcio) never get those SETTINGS.
import type { Duplex } from "node:stream";
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, Flag, FrameType, frame } from "./grpc/h2/frames.js";
import { HpackDecoder } from "./grpc/h2/hpack.js";
import { MAX_HEADER_LIST_BYTES } from "./http2-windows.js";

const EMPTY_SETTINGS = frame(FrameType.Settings, 0, 0);

export interface FirstRequestOptions {
  /** How long to wait for HEADERS before sending our SETTINGS (Go clients wait for them). */
  readonly graceMs: number;
  /** Most bytes to buffer before the first HEADERS is complete. */
  readonly maxBufferedBytes: number;
}

/** What the first request says; `contentType` is undefined when it has none. */
export interface FirstRequest {
  readonly contentType: string | undefined;
}

/**
 * Reads `socket` (already in the HTTP/2 state: its first bytes are the client preface)
 * until its first request's headers are known, then unshifts what was read, pauses the
 * socket and calls `done`. On malformed input or too many bytes, `done` gets an error and
 * the socket is left for the caller to destroy. A socket that closes first gets an error too.
 */
export function readFirstRequest(socket: Duplex, opts: FirstRequestOptions, done: (result: FirstRequest | Error) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  let sentSettings = false;
  let finished = false;
  // A TLS socket takes one write at a time: handed over while our SETTINGS write is still in
  // flight, the new owner's first write aborts the process (TLSWrap "!current_write_").
  let writing = false;
  let handOver: (() => void) | undefined;
  const grace = setTimeout(() => {
    if (finished || buffered.length < CLIENT_PREFACE.length) return;
    sentSettings = true;
    writing = true;
    socket.write(EMPTY_SETTINGS, () => {
      writing = false;
      handOver?.();
    });
  }, opts.graceMs);

  const finish = (result: FirstRequest | Error) => {
    finished = true;
    clearTimeout(grace);
    socket.removeListener("data", onData);
    socket.removeListener("close", onClose);
    socket.removeListener("error", onClose);
    socket.pause();
    if (result instanceof Error) return done(result);
    socket.unshift(sentSettings ? withoutSettingsAck(buffered) : buffered);
    if (writing) handOver = () => done(result);
    else done(result);
  };

  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let first: FirstRequest | undefined;
    try {
      const block = firstHeaderBlock(buffered);
      if (block) first = { contentType: contentTypeOf(block) };
    } catch (err) {
      return finish(err as Error);
    }
    if (first) return finish(first);
    if (buffered.length > opts.maxBufferedBytes) finish(new Error(`no request headers in the first ${opts.maxBufferedBytes} bytes`));
  };
  const onClose = () => finish(new Error("the connection closed before its first request"));
  socket.on("data", onData);
  socket.on("close", onClose);
  socket.on("error", onClose);
  if (socket.isPaused()) socket.resume();
}

/** The complete header block of the first HEADERS frame (with its CONTINUATIONs), or undefined while incomplete. */
function firstHeaderBlock(buf: Buffer): Buffer | undefined {
  if (buf.length < CLIENT_PREFACE.length) return undefined;
  if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new Error("not an HTTP/2 client preface");
  let offset = CLIENT_PREFACE.length;
  const fragments: Buffer[] = [];
  while (offset + FRAME_HEADER_BYTES <= buf.length) {
    const length = buf.readUIntBE(offset, 3);
    const type = buf[offset + 3];
    const flags = buf[offset + 4];
    if (length > DEFAULT_MAX_FRAME_BYTES) throw new Error("frame larger than the default maximum frame size");
    if (offset === CLIENT_PREFACE.length && type !== FrameType.Settings) throw new Error("the client preface must be followed by SETTINGS");
    const end = offset + FRAME_HEADER_BYTES + length;
    if (end > buf.length) return undefined;
    const payload = buf.subarray(offset + FRAME_HEADER_BYTES, end);
    if (type === FrameType.Headers) {
      let start = 0;
      let stop = payload.length;
      if (flags & Flag.Padded) stop -= payload[start++];
      if (flags & Flag.Priority) start += 5;
      if (start > stop) throw new Error("malformed HEADERS frame");
      fragments.push(payload.subarray(start, stop));
      if (flags & Flag.EndHeaders) return Buffer.concat(fragments);
    } else if (fragments.length > 0) {
      if (type !== FrameType.Continuation) throw new Error("HEADERS not followed by CONTINUATION");
      fragments.push(payload);
      if (flags & Flag.EndHeaders) return Buffer.concat(fragments);
    }
    offset = end;
  }
  return undefined;
}

function contentTypeOf(block: Buffer): string | undefined {
  // A fresh decoder suffices: the first header block of a connection can refer only to the
  // static table and to entries it adds itself.
  let type: string | undefined;
  new HpackDecoder().decode(block, MAX_HEADER_LIST_BYTES, (name, value) => {
    if (name === "content-type" && type === undefined) type = value;
  });
  return type;
}

/** `buf` without the client's SETTINGS ACK frames (answers to our SETTINGS, the only ones sent so far). */
function withoutSettingsAck(buf: Buffer): Buffer {
  const parts: Buffer[] = [buf.subarray(0, CLIENT_PREFACE.length)];
  let offset = CLIENT_PREFACE.length;
  while (offset + FRAME_HEADER_BYTES <= buf.length) {
    const length = buf.readUIntBE(offset, 3);
    const end = Math.min(buf.length, offset + FRAME_HEADER_BYTES + length);
    const isAck = buf[offset + 3] === FrameType.Settings && (buf[offset + 4] & Flag.Ack) !== 0;
    if (!isAck) parts.push(buf.subarray(offset, end));
    offset = end;
  }
  parts.push(buf.subarray(offset));
  return Buffer.concat(parts);
}
