// The one port: TLS with ALPN, routing HTTP/2 connections to the gRPC server or connect-node, and
// shutdown that does not wait on idle clients.
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestServer } from "../support/server.js";
import { grpcurlPath, run } from "../support/tools.js";

const fixtures = path.join(import.meta.dirname, "../support/fixtures");
const tls = { certFile: path.join(fixtures, "tls-cert.pem"), keyFile: path.join(fixtures, "tls-key.pem") };
const ca = readFileSync(tls.certFile);

describe("TLS", () => {
  it("serves gRPC (through the gRPC server) and Connect over HTTP/2 and HTTP/1.1 on the same TLS port", async () => {
    const s = await startTestServer({ server: { tls } });
    try {
      const baseUrl = `https://localhost:${s.port}`;
      const overH2 = createClient(Health, createGrpcTransport({ baseUrl, nodeOptions: { ca } }));
      expect((await overH2.check({})).status).toBe(Status.SERVING);
      const overH1 = createClient(Health, createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca } }));
      expect((await overH1.check({})).status).toBe(Status.SERVING);
      // Connect over HTTP/2, as a browser speaks it over TLS: connect-node, not the gRPC server.
      const overH2Connect = createClient(Health, createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca } }));
      expect((await overH2Connect.check({})).status).toBe(Status.SERVING);
      const text = await new Promise<string>((resolve, reject) => {
        https.get(`${baseUrl}/metrics`, { ca }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve(body));
        }).on("error", reject);
      });
      expect(text).toMatch(/^openloop_connections_total\{server="grpc"\} 1$/m);
      expect(text).toMatch(/^openloop_connections_total\{server="http2"\} 1$/m);
    } finally {
      await s.close();
    }
  });

  it("refuses to start when the certificate file is missing, naming the setting", async () => {
    const err = await startTestServer({ server: { tls: { ...tls, certFile: "/nonexistent/cert.pem" } } }).catch((e: unknown) => e);
    expect((err as Error).message).toContain("server.tls.certFile");
  });
});

describe("protocol sniffing on the cleartext port", () => {
  it("serves an HTTP/1.1 request whose first packet is a single 'P' (like the HTTP/2 preface)", async () => {
    const s = await startTestServer();
    try {
      const body = "{}";
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(s.port, "127.0.0.1", () => {
          socket.write("P");
          setTimeout(() => {
            socket.write(
              `OST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
            );
          }, 50);
        });
        let data = "";
        socket.on("data", (d) => (data += d.toString()));
        socket.on("end", () => resolve(data));
        socket.on("error", reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 200/);
      expect(reply).toContain('{"status":"SERVING"}');
    } finally {
      await s.close();
    }
  });

  it("speaks HTTP/2 when the connection preface arrives in pieces", async () => {
    const s = await startTestServer();
    try {
      const emptySettings = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);
      const first = await new Promise<Buffer>((resolve, reject) => {
        const socket = net.connect(s.port, "127.0.0.1", () => {
          socket.write("PR");
          setTimeout(() => socket.write(Buffer.concat([Buffer.from("I * HTTP/2.0\r\n\r\nSM\r\n\r\n"), emptySettings])), 50);
        });
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          resolve(d);
        });
        socket.on("error", reject);
      });
      // The server's first frame: its SETTINGS (type 0x04), not an HTTP/1.1 "400 Bad Request".
      expect(first.toString("latin1")).not.toMatch(/^HTTP\/1/);
      expect(first[3]).toBe(0x04);
    } finally {
      await s.close();
    }
  });
});

describe("shutdown with idle clients", () => {
  it("does not wait for an idle HTTP/2 client connection", async () => {
    const s = await startTestServer({ server: { shutdownGraceMs: 120_000 } });
    const session = http2.connect(s.baseUrl);
    session.on("error", () => {});
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    const closedByServer = new Promise<void>((resolve) => session.once("close", () => resolve()));
    await s.server.close(); // would hang until the test times out if the session were not closed
    await closedByServer;
  }, 20_000);

  it("does not wait for an idle HTTP/1.1 keep-alive connection", async () => {
    const s = await startTestServer({ server: { shutdownGraceMs: 120_000 } });
    const agent = new http.Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`${s.baseUrl}/metrics`, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      }).on("error", reject);
    });
    expect(status).toBe(200);
    await s.server.close();
    agent.destroy();
  }, 20_000);
});

describe("routing HTTP/2 connections on their first request", () => {
  const connections = async (baseUrl: string) => {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const count = (server: string) => Number(new RegExp(`^openloop_connections_total\\{server="${server}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return { grpc: count("grpc"), http2: count("http2") };
  };

  it("gives a connection that opens with Connect to connect-node and one that opens with gRPC to the gRPC server, each keeping its server", async () => {
    const s = await startTestServer();
    const connectSessions = new Http2SessionManager(s.baseUrl);
    const grpcSessions = new Http2SessionManager(s.baseUrl);
    try {
      const overConnect = createClient(Health, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "2", sessionManager: connectSessions }));
      const overGrpc = createClient(Health, createGrpcTransport({ baseUrl: s.baseUrl, sessionManager: grpcSessions }));
      for (let i = 0; i < 3; i++) {
        expect((await overConnect.check({})).status).toBe(Status.SERVING);
        expect((await overGrpc.check({})).status).toBe(Status.SERVING);
      }
      expect(await connections(s.baseUrl)).toEqual({ grpc: 1, http2: 1 });
    } finally {
      connectSessions.abort();
      grpcSessions.abort();
      await s.close();
    }
  });

  it("routes gRPC-Web over HTTP/2 to connect-node although its content-type starts with application/grpc", async () => {
    const s = await startTestServer();
    const sessions = new Http2SessionManager(s.baseUrl);
    try {
      const overWeb = createClient(Health, createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "2", sessionManager: sessions }));
      expect((await overWeb.check({})).status).toBe(Status.SERVING);
      expect(await connections(s.baseUrl)).toEqual({ grpc: 0, http2: 1 });
    } finally {
      sessions.abort();
      await s.close();
    }
  });

  it("serves a Go client, which waits for the server's SETTINGS before its first request, through the gRPC server", async () => {
    const s = await startTestServer();
    try {
      const r = await run(grpcurlPath(), ["-plaintext", `127.0.0.1:${s.port}`, "grpc.health.v1.Health/Check"]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ status: "SERVING" });
      expect(await connections(s.baseUrl)).toEqual({ grpc: 1, http2: 0 });
    } finally {
      await s.close();
    }
  });
});

describe("gRPC keepalive", () => {
  it("pings an idle gRPC connection every server.keepalive.timeMs", async () => {
    const s = await startTestServer({ server: { keepalive: { timeMs: 50, timeoutMs: 1_000 } } });
    const session = http2.connect(s.baseUrl);
    try {
      session.on("error", () => {});
      const pinged = new Promise<void>((resolve) => session.once("ping", () => resolve()));
      // One gRPC call hands the connection to the gRPC server, which then keeps it alive.
      const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
      req.end(Buffer.alloc(5)); // an empty message: uncompressed, length 0
      req.resume();
      await new Promise((resolve) => req.once("close", resolve));
      await pinged;
    } finally {
      session.destroy();
      await s.close();
    }
  });
});
