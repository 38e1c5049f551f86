// An HTTP/2 client written frame by frame, for tests of the server's own HTTP/2 transport:
// it sends exactly the frames a test asks for and records every frame the server sends.
import net from "node:net";
import { HpackDecoder, HpackEncoder } from "../../src/platform/grpc/h2/hpack.js";

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
  /** Decoded fields of a HEADERS frame (complete blocks only). */
  readonly fields?: [string, string][];
}

export class RawH2Client {
  readonly frames: Frame[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => {
      this.closed = true;
      this.notify();
    });
    socket.on("error", () => {});
  }

  /** Connects and sends the preface and SETTINGS (`settings` as [id, value] pairs). */
  static async connect(port: number, settings: [number, number][] = []): Promise<RawH2Client> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const client = new RawH2Client(socket);
    const payload = Buffer.alloc(6 * settings.length);
    settings.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, 6 * i);
      payload.writeUInt32BE(value, 6 * i + 2);
    });
    socket.write(Buffer.concat([PREFACE, frameBytes(FRAME.SETTINGS, 0, 0, payload)]));
    return client;
  }

  send(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): void {
    this.socket.write(frameBytes(type, flags, stream, payload));
  }

  /** A header block of `fields`, as our encoder writes it (literals, no indexing). */
  block(fields: [string, string][]): Buffer {
    return this.encoder.encode(fields);
  }

  /** Sends a gRPC request's HEADERS (and its message in DATA with END_STREAM, if given). */
  request(stream: number, path: string, message?: Buffer, extra: [string, string][] = []): void {
    const block = this.block([[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "localhost"], ["content-type", "application/grpc"], ["te", "trailers"], ...extra]);
    this.send(FRAME.HEADERS, FLAG.END_HEADERS | (message ? 0 : FLAG.END_STREAM), stream, block);
    if (message) this.send(FRAME.DATA, FLAG.END_STREAM, stream, grpcMessage(message));
  }

  /** Waits until a frame the predicate accepts has arrived (or the connection closed). */
  async waitFor(predicate: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (this.closed) throw new Error("the connection closed first");
      if (Date.now() > deadline) throw new Error("no such frame in time");
      await this.nextEvent(deadline);
    }
  }

  /** Waits for the server to close the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("the connection stayed open");
      await this.nextEvent(deadline);
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves when frames arrive or the connection closes, or at the deadline. */
  private nextEvent(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 1);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) break;
      const type = this.buffered[3];
      const flags = this.buffered[4];
      const stream = this.buffered.readUInt32BE(5) & 0x7fffffff;
      const payload = Buffer.from(this.buffered.subarray(9, 9 + length));
      this.buffered = this.buffered.subarray(9 + length);
      let fields: [string, string][] | undefined;
      if (type === FRAME.HEADERS && flags & FLAG.END_HEADERS) {
        fields = [];
        this.decoder.decode(payload, 1 << 20, (name, value) => void fields!.push([name, value]));
      }
      this.frames.push({ type, flags, stream, payload, fields });
    }
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export function frameBytes(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** A gRPC length-prefixed message. */
export function grpcMessage(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
