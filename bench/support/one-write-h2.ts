// A measuring device, not a server: a bare HTTP/2 responder that answers every request with
// grpc.health.v1.Health/Check's SERVING, its HEADERS, DATA and trailers framed by hand, either in
// one socket write ("one") or with the trailers one event-loop turn later ("split", as node:http2
// sends them: Http2Stream.sendTrailers defers them with setImmediate, and the session writes them
// on its next turn). It tells what the gRPC floor at concurrency 1 would be without node:http2's
// second write, the next design step named for GetFeatures' added p50 (BENCHMARKS.md).
// It does no flow-control accounting and no HPACK decoding: fine for small unary calls on loopback.
//
//   node --import tsx bench/support/one-write-h2.ts one|split   (prints its port)
import { spawn } from "node:child_process";
import net from "node:net";
import { CLIENT_PREFACE, frame } from "../../src/platform/grpc/h2/frames.js";
import { ROOT } from "../../test/support/tools.js";

export interface RawH2Server {
  readonly port: number;
  readonly pid: number;
  stop(): void;
}

export async function startOneWriteH2(mode: "one" | "split"): Promise<RawH2Server> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, mode], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`one-write-h2 exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

const PREFACE = CLIENT_PREFACE;
const DATA = 0x0, HEADERS = 0x1, SETTINGS = 0x4, PING = 0x6, WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4;

/** HPACK literal without indexing: a static-table name index (4-bit prefix < 15 here) or a new name. */
function literal(nameIndex: number, name: string, value: string): Buffer {
  const v = Buffer.from(value);
  if (nameIndex > 0) {
    const idx = nameIndex < 15 ? [nameIndex] : [0x0f, nameIndex - 15];
    return Buffer.concat([Buffer.from(idx), Buffer.from([v.length]), v]);
  }
  const n = Buffer.from(name);
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

const RESPONSE_HEADERS = Buffer.concat([Buffer.from([0x88]) /* :status 200 */, literal(31, "content-type", "application/grpc")]);
const TRAILERS = Buffer.concat([literal(0, "grpc-status", "0"), literal(0, "grpc-message", "")]);
const MESSAGE = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]); // HealthCheckResponse{status: SERVING}

function serve(socket: net.Socket, split: boolean): void {
  socket.setNoDelay(true);
  socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
  let buf: Buffer = Buffer.alloc(0);
  let prefaceSeen = false;
  socket.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!prefaceSeen) {
      if (buf.length < PREFACE.length) return;
      buf = buf.subarray(PREFACE.length);
      prefaceSeen = true;
    }
    const out: Buffer[] = [];
    const later: Buffer[] = [];
    let received = 0;
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!, flags = buf[4]!, stream = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      if (type === SETTINGS && !(flags & ACK)) out.push(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
      else if (type === PING && !(flags & ACK)) out.push(frame(PING, ACK, 0, Buffer.from(payload)));
      else if (type === DATA) received += len;
      if ((type === HEADERS || type === DATA) && flags & END_STREAM && stream > 0) {
        out.push(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS), frame(DATA, 0, stream, MESSAGE));
        (split ? later : out).push(frame(HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS));
      }
    }
    if (buf.length > 0) buf = Buffer.from(buf);
    if (received > 0) {
      const inc = Buffer.allocUnsafe(4);
      inc.writeUInt32BE(received);
      out.push(frame(WINDOW_UPDATE, 0, 0, inc));
    }
    if (out.length > 0) socket.write(Buffer.concat(out));
    if (later.length > 0) setImmediate(() => setImmediate(() => socket.write(Buffer.concat(later))));
  });
  socket.on("error", () => socket.destroy());
}

if (process.argv[1] === import.meta.filename) {
  const split = process.argv[2] === "split";
  const server = net.createServer((s) => serve(s, split));
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
  process.on("SIGTERM", () => process.exit(0));
}
