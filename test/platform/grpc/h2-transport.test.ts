// The server's own HTTP/2 transport for gRPC (src/platform/grpc/h2/), spoken to frame by
// frame: the protocol's rules a gRPC client library would never break on purpose.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../../gen/grpc/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../../support/server.js";
import { FLAG, FRAME, RawH2Client, frameBytes, grpcMessage, u32, type Frame } from "../../support/raw-h2.js";

const CHECK = "/grpc.health.v1.Health/Check";
const WATCH = "/grpc.health.v1.Health/Watch";
const SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;

const on = (stream: number, type: number) => (f: Frame) => f.stream === stream && f.type === type;
const trailersOf = (stream: number) => (f: Frame) => f.stream === stream && f.type === FRAME.HEADERS && (f.flags & FLAG.END_STREAM) !== 0;
const field = (f: Frame, name: string) => f.fields?.find(([n]) => n === name)?.[1];

describe("gRPC's own HTTP/2 transport", () => {
  let s: TestServer;
  const stillServing = async () => expect((await createClient(Health, s.grpc).check({})).status).toBe(Status.SERVING);

  beforeAll(async () => {
    s = await startTestServer({ server: { keepalive: { minClientPingIntervalMs: 60_000 } } });
  });
  afterAll(() => s?.close());

  it("answers a unary call with HEADERS, DATA and then the status in trailers", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    const frames = c.frames.filter((f) => f.stream === 1);
    expect(frames.map((f) => f.type)).toEqual([FRAME.HEADERS, FRAME.DATA, FRAME.HEADERS]);
    expect(field(frames[0], ":status")).toBe("200");
    expect(field(frames[0], "content-type")).toBe("application/grpc");
    expect(frames[1].payload).toEqual(SERVING);
    expect(field(frames[2], "grpc-status")).toBe("0");
    c.close();
  });

  it("acknowledges the client's SETTINGS and answers a PING with its payload", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0);
    c.send(FRAME.PING, 0, 0, Buffer.from("12345678"));
    const ack = await c.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0);
    expect(ack.payload.toString()).toBe("12345678");
    c.close();
  });

  it("sends no more DATA than the client's stream window, and the rest once it grows", async () => {
    const c = await RawH2Client.connect(s.port, [[SETTINGS_INITIAL_WINDOW_SIZE, 3]]);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(on(1, FRAME.DATA));
    // The server answers a PING after what it sent for the call: by its ACK, nothing more is coming.
    c.send(FRAME.PING, 0, 0, Buffer.from("flushed?"));
    await c.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0);
    expect(c.frames.filter(on(1, FRAME.DATA)).reduce((n, f) => n + f.payload.length, 0)).toBe(3);
    expect(c.frames.some(trailersOf(1))).toBe(false);
    c.send(FRAME.WINDOW_UPDATE, 0, 1, u32(100));
    await c.waitFor(trailersOf(1));
    expect(Buffer.concat(c.frames.filter(on(1, FRAME.DATA)).map((f) => f.payload))).toEqual(SERVING);
    c.close();
  });

  it("decodes a request whose header block continues in CONTINUATION frames", async () => {
    const c = await RawH2Client.connect(s.port);
    const block = c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], [":authority", "localhost"], ["content-type", "application/grpc"], ["x-long", "v".repeat(40_000)]]);
    c.send(FRAME.HEADERS, 0, 1, block.subarray(0, 16_000));
    c.send(FRAME.CONTINUATION, 0, 1, block.subarray(16_000, 32_000));
    c.send(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(32_000));
    c.send(FRAME.DATA, FLAG.END_STREAM, 1, grpcMessage(Buffer.alloc(0)));
    expect(field(await c.waitFor(trailersOf(1)), "grpc-status")).toBe("0");
    c.close();
  });

  it("refuses a request whose headers are past the header list limit, and serves the next one", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    const huge = c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/grpc"], ...Array.from({ length: 10 }, (_, i): [string, string] => [`x-big-${i}`, "v".repeat(8_000)])]);
    for (let offset = 0; offset < huge.length; offset += 16_000) {
      const last = offset + 16_000 >= huge.length;
      c.send(offset === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, last ? FLAG.END_HEADERS | (offset === 0 ? FLAG.END_STREAM : 0) : 0, 3, huge.subarray(offset, offset + 16_000));
    }
    await c.waitFor(on(3, FRAME.RST_STREAM));
    c.request(5, CHECK, Buffer.alloc(0));
    expect(field(await c.waitFor(trailersOf(5)), "grpc-status")).toBe("0");
    c.close();
  });

  it("refuses streams past SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    const settings = await c.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
    let max = 0;
    for (let i = 0; i < settings.payload.length; i += 6) if (settings.payload.readUInt16BE(i) === SETTINGS_MAX_CONCURRENT_STREAMS) max = settings.payload.readUInt32BE(i + 2);
    expect(max).toBeGreaterThan(0);
    await c.waitFor(trailersOf(1));
    // Watch streams stay open; one more than allowed.
    for (let i = 0; i <= max; i++) c.request(3 + 2 * i, WATCH, Buffer.alloc(0));
    const refused = await c.waitFor(on(3 + 2 * max, FRAME.RST_STREAM));
    expect(refused.payload.readUInt32BE(0)).toBe(0x7);
    c.close();
  });

  it("takes a grpc-timeout weeks away as a deadline, and answers INVALID_ARGUMENT to a malformed one", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0), [["grpc-timeout", "720H"]]);
    expect(field(await c.waitFor(trailersOf(1)), "grpc-status")).toBe("0");
    c.request(3, CHECK, Buffer.alloc(0), [["grpc-timeout", "soon"]]);
    const refused = await c.waitFor(trailersOf(3));
    expect(field(refused, "grpc-status")).toBe("3");
    expect(field(refused, "grpc-message")).toContain("grpc timeout");
    c.close();
  });

  it("reads a gzip-compressed request, and answers UNIMPLEMENTED to a compressed one without a known grpc-encoding", async () => {
    const c = await RawH2Client.connect(s.port);
    const compressed = (body: Buffer) => {
      const framed = grpcMessage(gzipSync(body));
      framed[0] = 1;
      return framed;
    };
    const headers = (id: number, encoding: string) =>
      c.send(FRAME.HEADERS, FLAG.END_HEADERS, id, c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/grpc"], ["grpc-encoding", encoding]]));
    headers(1, "gzip");
    c.send(FRAME.DATA, FLAG.END_STREAM, 1, compressed(Buffer.alloc(0)));
    expect(field(await c.waitFor(trailersOf(1)), "grpc-status")).toBe("0");
    headers(3, "snappy");
    c.send(FRAME.DATA, FLAG.END_STREAM, 3, compressed(Buffer.alloc(0)));
    expect(field(await c.waitFor(trailersOf(3)), "grpc-status")).toBe("12");
    c.close();
  });

  it("resets malformed requests with PROTOCOL_ERROR (RFC 9113 §8.2): upper-case names, missing or repeated pseudo-headers, connection-specific fields", async () => {
    const c = await RawH2Client.connect(s.port);
    const base: [string, string][] = [[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/grpc"]];
    const lists: [string, string][][] = [
      [...base, ["X-Upper", "1"]],
      base.filter(([n]) => n !== ":scheme"),
      [[":path", CHECK], ...base],
      [...base, ["connection", "keep-alive"]],
      [...base, ["te", "gzip"]],
      [...base.slice(0, 3), ["content-type", "application/grpc"], [":authority", "late"]],
    ];
    lists.forEach((fields, i) => c.send(FRAME.HEADERS, FLAG.END_HEADERS, 1 + 2 * i, c.block(fields)));
    for (let i = 0; i < lists.length; i++) expect((await c.waitFor(on(1 + 2 * i, FRAME.RST_STREAM))).payload.readUInt32BE(0), `list ${i}`).toBe(0x1);
    c.request(1 + 2 * lists.length, CHECK, Buffer.alloc(0));
    expect(field(await c.waitFor(trailersOf(1 + 2 * lists.length)), "grpc-status")).toBe("0");
    c.close();
  });

  it("resets a stream whose body is not as long as its content-length, and one the client sends DATA on after ending it", async () => {
    const c = await RawH2Client.connect(s.port);
    c.send(FRAME.HEADERS, FLAG.END_HEADERS, 1, c.block([[":method", "POST"], [":scheme", "http"], [":path", WATCH], ["content-type", "application/grpc"], ["content-length", "50"]]));
    c.send(FRAME.DATA, FLAG.END_STREAM, 1, grpcMessage(Buffer.alloc(0)));
    expect((await c.waitFor(on(1, FRAME.RST_STREAM))).payload.readUInt32BE(0)).toBe(0x1);
    c.request(3, WATCH, Buffer.alloc(0));
    await c.waitFor(on(3, FRAME.DATA)); // SERVING; the stream stays open, half-closed by the client
    c.send(FRAME.DATA, 0, 3, grpcMessage(Buffer.alloc(0)));
    expect((await c.waitFor(on(3, FRAME.RST_STREAM))).payload.readUInt32BE(0)).toBe(0x5);
    c.close();
  });

  it("answers 415 to a request that is not gRPC on a gRPC connection", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    c.send(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/json"]]));
    expect(field(await c.waitFor(on(3, FRAME.HEADERS)), ":status")).toBe("415");
    c.close();
  });

  it("reports a refused request's malformed body before refusing it, and then does not answer the reset stream", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    // Not gRPC (415), and a body longer than its content-length (a stream error): in one write,
    // so the server reads both before it answers.
    const head = c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/json"], ["content-length", "5"]]);
    c.socket.write(Buffer.concat([frameBytes(FRAME.HEADERS, FLAG.END_HEADERS, 3, head), frameBytes(FRAME.DATA, FLAG.END_STREAM, 3, Buffer.alloc(10))]));
    expect((await c.waitFor(on(3, FRAME.RST_STREAM))).payload.readUInt32BE(0)).toBe(0x1);
    // A later call's answer comes after the refusal would have: there was none.
    c.request(5, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(5));
    expect(c.frames.filter(on(3, FRAME.HEADERS))).toEqual([]);
    c.close();
  });

  it("ends a connection that sends DATA or HEADERS on a stream it had closed itself (STREAM_CLOSED)", async () => {
    // Closed by the client's END_STREAM and our answer.
    const ended = await RawH2Client.connect(s.port);
    ended.request(1, CHECK, Buffer.alloc(0));
    await ended.waitFor(trailersOf(1));
    ended.send(FRAME.DATA, FLAG.END_STREAM, 1, grpcMessage(Buffer.alloc(0)));
    expect((await ended.waitFor((f) => f.type === FRAME.GOAWAY)).payload.readUInt32BE(4)).toBe(0x5);
    await ended.waitClosed();
    // Closed by the client's RST_STREAM; then HEADERS on it.
    const reset = await RawH2Client.connect(s.port);
    const head = reset.block([[":method", "POST"], [":scheme", "http"], [":path", WATCH], ["content-type", "application/grpc"]]);
    reset.socket.write(Buffer.concat([frameBytes(FRAME.HEADERS, FLAG.END_HEADERS, 1, head), frameBytes(FRAME.RST_STREAM, 0, 1, u32(0x8)), frameBytes(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, head)]));
    expect((await reset.waitFor((f) => f.type === FRAME.GOAWAY)).payload.readUInt32BE(4)).toBe(0x5);
    await reset.waitClosed();
    await stillServing();
  });

  it("ends a connection that opens a stream with an id lower than one it already opened (PROTOCOL_ERROR), not one that reuses an id it used", async () => {
    // 5 first: 1 and 3 were skipped, so HEADERS on 3 opens a stream out of order.
    const skipped = await RawH2Client.connect(s.port);
    skipped.request(5, CHECK, Buffer.alloc(0));
    await skipped.waitFor(trailersOf(5));
    skipped.request(3, CHECK, Buffer.alloc(0));
    expect((await skipped.waitFor((f) => f.type === FRAME.GOAWAY)).payload.readUInt32BE(4)).toBe(0x1);
    await skipped.waitClosed();
    // HEADERS on a stream it used, which we had answered and reset first: ignored.
    const used = await RawH2Client.connect(s.port);
    used.send(FRAME.HEADERS, FLAG.END_HEADERS, 1, used.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/json"]]));
    await used.waitFor(on(1, FRAME.RST_STREAM));
    used.send(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, used.block([["grpc-status", "0"]]));
    used.request(3, CHECK, Buffer.alloc(0));
    expect(field(await used.waitFor(trailersOf(3)), "grpc-status")).toBe("0");
    expect(used.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
    used.close();
    await stillServing();
  });

  it("ignores DATA on a stream it closed first, which the client may have sent before it knew", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    // Not gRPC and not ended: answered 415, then reset (NO_ERROR) so the client stops sending.
    c.send(FRAME.HEADERS, FLAG.END_HEADERS, 3, c.block([[":method", "POST"], [":scheme", "http"], [":path", CHECK], ["content-type", "application/json"]]));
    expect(field(await c.waitFor(on(3, FRAME.HEADERS)), ":status")).toBe("415");
    expect((await c.waitFor(on(3, FRAME.RST_STREAM))).payload.readUInt32BE(0)).toBe(0x0);
    c.send(FRAME.DATA, FLAG.END_STREAM, 3, Buffer.from("late"));
    c.request(5, CHECK, Buffer.alloc(0));
    expect(field(await c.waitFor(trailersOf(5)), "grpc-status")).toBe("0");
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
    c.close();
  });

  it("grants its windows again as requests are read: more than the connection window goes through", async () => {
    const c = await RawH2Client.connect(s.port);
    const service = "s".repeat(15_000); // Health/Check of an unknown service: NOT_FOUND
    const message = Buffer.concat([Buffer.from([0x0a, 0x98, 0x75]), Buffer.from(service)]);
    const calls = 400; // 6 MB, past the 4 MiB connection window
    for (let i = 0; i < calls; i++) c.request(1 + 2 * i, CHECK, message);
    await c.waitFor(trailersOf(1 + 2 * (calls - 1)), 20_000);
    const answered = c.frames.filter((f) => f.type === FRAME.HEADERS && (f.flags & FLAG.END_STREAM) !== 0);
    expect(answered).toHaveLength(calls);
    expect(answered.every((f) => field(f, "grpc-status") === "5")).toBe(true);
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
    c.close();
  });

  it("ends a connection that sends a frame larger than SETTINGS_MAX_FRAME_SIZE with FRAME_SIZE_ERROR, and keeps serving", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    c.send(FRAME.DATA, 0, 1, Buffer.alloc(20_000));
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY);
    expect(goaway.payload.readUInt32BE(4)).toBe(0x6);
    await c.waitClosed();
    await stillServing();
  });

  it("ends a connection whose client resets streams in a flood (rapid reset) with ENHANCE_YOUR_CALM", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    const burst: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const id = 3 + 2 * i;
      burst.push(frameBytes(FRAME.HEADERS, FLAG.END_HEADERS, id, c.block([[":method", "POST"], [":scheme", "http"], [":path", WATCH], ["content-type", "application/grpc"]])));
      burst.push(frameBytes(FRAME.RST_STREAM, 0, id, u32(0x8)));
    }
    c.socket.write(Buffer.concat(burst));
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY);
    expect(goaway.payload.readUInt32BE(4)).toBe(0xb);
    await stillServing();
  });

  it("tells a client that pings again and again with no call open to calm down (too_many_pings)", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    for (let i = 0; i < 4; i++) c.send(FRAME.PING, 0, 0, Buffer.alloc(8, i));
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY);
    expect(goaway.payload.readUInt32BE(4)).toBe(0xb);
    expect(goaway.payload.subarray(8).toString()).toBe("too_many_pings");
  });

  it("takes a ping after each response as a client measuring bandwidth, never a strike", async () => {
    const c = await RawH2Client.connect(s.port);
    for (let i = 0; i < 6; i++) {
      c.request(1 + 2 * i, CHECK, Buffer.alloc(0));
      await c.waitFor(trailersOf(1 + 2 * i));
      c.send(FRAME.PING, 0, 0, Buffer.alloc(8, i));
      await c.waitFor((f) => f.type === FRAME.PING && f.payload[0] === i);
    }
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
    c.close();
  });
});

describe("gRPC's own HTTP/2 transport, keepalive", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { keepalive: { timeMs: 100, timeoutMs: 200 } } });
  });
  afterAll(() => s?.close());

  it("closes a connection whose client leaves the server's ping unanswered past server.keepalive.timeoutMs", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    await c.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0);
    await c.waitClosed();
  });

  it("keeps a connection whose client answers the pings", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    for (let i = 0; i < 3; i++) {
      const seen = c.frames.filter((f) => f.type === FRAME.PING).length;
      const ping = await c.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0 && c.frames.filter((g) => g.type === FRAME.PING).indexOf(f) >= seen);
      c.send(FRAME.PING, FLAG.ACK, 0, ping.payload);
    }
    c.request(3, CHECK, Buffer.alloc(0));
    expect(field(await c.waitFor(trailersOf(3)), "grpc-status")).toBe("0");
    expect(c.closed).toBe(false);
    c.close();
  });
});

describe("gRPC's own HTTP/2 transport, a client that does not read", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { keepalive: { minClientPingIntervalMs: 0 } } });
  });
  afterAll(() => s?.close());

  it("stops reading from a client that sends without reading its answers, instead of holding them all", async () => {
    const c = await RawH2Client.connect(s.port);
    c.request(1, CHECK, Buffer.alloc(0));
    await c.waitFor(trailersOf(1));
    c.socket.pause();
    // 64 MiB of PINGs whose ACKs the client never reads. Read whole, they would cost the server
    // (this process) about 200 MB of queued answers; it stops at 4 MiB of unsent output instead.
    // Built in one allocation: 65,536 little Buffers would be garbage in this process's heap, and
    // in the resident memory the test measures.
    const ping = frameBytes(FRAME.PING, 0, 0, Buffer.alloc(8));
    const burst = Buffer.alloc(ping.length << 16);
    for (let at = 0; at < burst.length; at += ping.length) ping.copy(burst, at);
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 64; i++) c.socket.write(burst);
    // Until the server stops reading (this client's queue stops shrinking for half a second) or
    // has read half of it, which a server that reads on does within seconds.
    let unsent = c.socket.writableLength;
    for (let still = 0; still < 5 && unsent > 32 << 20; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = c.socket.writableLength === unsent ? still + 1 : 0;
      unsent = c.socket.writableLength;
    }
    expect(c.closed).toBe(false);
    expect(unsent).toBeGreaterThan(32 << 20);
    // The garbage of the PINGs it did read is collected in time, so this bound is loose.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 << 20);
    await stillServingOn(s);
    c.close();
  });
});

async function stillServingOn(s: TestServer): Promise<void> {
  expect((await createClient(Health, s.grpc).check({})).status).toBe(Status.SERVING);
}

