// HTTP/2 frame types, flags, error codes and settings (RFC 9113 §6, §7), and the frame header.

export const FRAME_HEADER_BYTES = 9;

export const enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  Goaway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

export const enum Flag {
  EndStream = 0x1,
  Ack = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

export const enum H2Error {
  NoError = 0x0,
  ProtocolError = 0x1,
  InternalError = 0x2,
  FlowControlError = 0x3,
  StreamClosed = 0x5,
  FrameSizeError = 0x6,
  RefusedStream = 0x7,
  Cancel = 0x8,
  CompressionError = 0x9,
  EnhanceYourCalm = 0xb,
}

export const enum Setting {
  HeaderTableSize = 0x1,
  EnablePush = 0x2,
  MaxConcurrentStreams = 0x3,
  InitialWindowSize = 0x4,
  MaxFrameSize = 0x5,
  MaxHeaderListSize = 0x6,
}

export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Frame size every endpoint must accept; ours stays at it (larger frames made nothing faster, see http2-windows.ts). */
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
export const DEFAULT_WINDOW_BYTES = 65_535;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

/** A frame with its payload copied in after the header. */
export function frame(type: FrameType, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const length = payload ? payload.length : 0;
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(f, 0, length, type, flags, stream);
  if (payload) f.set(payload, FRAME_HEADER_BYTES);
  return f;
}

export function writeFrameHeader(buf: Buffer, offset: number, length: number, type: FrameType, flags: number, stream: number): void {
  buf[offset] = length >>> 16;
  buf[offset + 1] = (length >>> 8) & 0xff;
  buf[offset + 2] = length & 0xff;
  buf[offset + 3] = type;
  buf[offset + 4] = flags;
  buf.writeUInt32BE(stream, offset + 5);
}

export function rstStreamFrame(stream: number, code: H2Error): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(f, 0, 4, FrameType.RstStream, 0, stream);
  f.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return f;
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(f, 0, 4, FrameType.WindowUpdate, 0, stream);
  f.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return f;
}

export function goawayFrame(lastStream: number, code: H2Error, debug = ""): Buffer {
  const data = Buffer.from(debug, "latin1");
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + data.length);
  writeFrameHeader(f, 0, 8 + data.length, FrameType.Goaway, 0, 0);
  f.writeUInt32BE(lastStream, FRAME_HEADER_BYTES);
  f.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  data.copy(f, FRAME_HEADER_BYTES + 8);
  return f;
}

export function settingsFrame(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 6 * settings.length);
  writeFrameHeader(f, 0, 6 * settings.length, FrameType.Settings, 0, 0);
  settings.forEach(([id, value], i) => {
    f.writeUInt16BE(id, FRAME_HEADER_BYTES + 6 * i);
    f.writeUInt32BE(value, FRAME_HEADER_BYTES + 6 * i + 2);
  });
  return f;
}

export const SETTINGS_ACK = frame(FrameType.Settings, Flag.Ack, 0);

/** A connection error: the connection ends with GOAWAY carrying `code`. */
export class ConnectionError extends Error {
  constructor(
    readonly code: H2Error,
    message: string,
  ) {
    super(message);
  }
}
