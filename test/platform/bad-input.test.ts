// Requests the server must refuse with a clear code, without falling over.
import { randomBytes } from "node:crypto";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MAX = 1024;

/** A raw gRPC unary call through grpc-js: any path, any bytes. */
function rawGrpc(port: number, path: string, body: Buffer): Promise<grpc.ServiceError | Buffer> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<grpc.ServiceError | Buffer>((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => resolve(err ?? res!),
    );
  }).finally(() => client.close());
}

/** Writes bytes on a fresh TCP connection and resolves when the server closes it. */
function sendAndWaitForClose(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    let reply = "";
    socket.on("data", (d) => (reply += d.toString("latin1")));
    socket.on("error", () => {}); // a reset is a fine way to be told no
    socket.on("close", () => resolve(reply));
    setTimeout(() => reject(new Error("server kept the garbage connection open")), 20_000).unref();
  });
}

describe("bad input", () => {
  let s: TestServer;
  const stillServing = async () => expect((await createClient(Health, s.grpc).check({})).status).toBe(Status.SERVING);

  beforeAll(async () => {
    s = await startTestServer({ server: { maxMessageBytes: MAX } });
  });
  afterAll(() => s?.close());

  it("answers UNIMPLEMENTED for an unknown service over gRPC, naming it", async () => {
    const err = (await rawGrpc(s.port, "/no.such.Service/Call", Buffer.alloc(0))) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain("no.such.Service");
  });

  it("answers UNIMPLEMENTED for an unknown method of a known service, naming it", async () => {
    const err = (await rawGrpc(s.port, "/grpc.health.v1.Health/Explode", Buffer.alloc(0))) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain("grpc.health.v1.Health/Explode");
  });

  it("answers unimplemented for an unknown service over the Connect protocol", async () => {
    const res = await fetch(`${s.baseUrl}/no.such.Service/Call`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe("unimplemented");
  });

  it("answers UNIMPLEMENTED for an unknown service over gRPC-Web", async () => {
    const res = await fetch(`${s.baseUrl}/no.such.Service/Call`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: new Uint8Array(5),
    });
    expect(res.headers.get("grpc-status")).toBe(String(Code.Unimplemented));
  });

  it("answers RESOURCE_EXHAUSTED for a request larger than server.maxMessageBytes, over gRPC and Connect", async () => {
    const big = "x".repeat(MAX * 2);
    for (const transport of [s.grpc, s.connect]) {
      const err = await createClient(Health, transport).check({ service: big }).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    }
    await stillServing();
  });

  it("answers INVALID_ARGUMENT for bytes that are not the request message", async () => {
    // Field 1 (service), length-delimited, claiming far more bytes than follow.
    const err = (await rawGrpc(s.port, "/grpc.health.v1.Health/Check", Buffer.from([0x0a, 0xff, 0x01, 0x41]))) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    await stillServing();
  });

  it("answers invalid_argument for malformed JSON over the Connect protocol", async () => {
    const res = await fetch(`${s.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("closes a connection that sends random bytes, and keeps serving", async () => {
    await sendAndWaitForClose(s.port, randomBytes(8192));
    await stillServing();
  });

  it("closes a connection that sends the HTTP/2 preface followed by garbage, and keeps serving", async () => {
    await sendAndWaitForClose(s.port, Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(4096)]));
    await stillServing();
  });

  it("answers 400 to a malformed HTTP/1.1 request line, and keeps serving", async () => {
    const reply = await sendAndWaitForClose(s.port, Buffer.from("GET /\x00\x01 HTTP/9.9\r\n\r\n"));
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await stillServing();
  });
});
