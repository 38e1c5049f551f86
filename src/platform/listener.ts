// One port for HTTP/2 (gRPC, gRPC-Web, Connect) and HTTP/1.1 (Connect, gRPC-Web, /metrics, console).
//
// Cleartext: a net.Server reads the first bytes of each connection; HTTP/1.1 goes to an
// http server. An HTTP/2 connection (its first bytes are the preface "PRI * HTTP/2.0") is
// read up to its first request's headers: gRPC (application/grpc, but not grpc-web) goes
// to the gRPC server (grpc/native-server.ts, or grpc-js), everything else to an http2 server; the http and http2 servers share one
// request handler (connect-node). With TLS, ALPN tells HTTP/2 from HTTP/1.1 instead,
// and HTTP/2 is routed the same way. A connection stays with the server its first request
// chose. Every connection is tracked so that shutdown can stop accepting, let in-flight
// requests finish, and then close idle keep-alive connections and HTTP/2 sessions (an
// idle HTTP/2 client would otherwise keep `close()` waiting forever).
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Counter, type Registry as MetricsRegistry } from "prom-client";
import { readFirstRequest } from "./h2-first-request.js";
import { SERVER_HTTP2_SETTINGS, widenConnectionWindow } from "./http2-windows.js";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Where HTTP/2 connections that open with a gRPC request go. */
export interface GrpcConnections {
  inject(socket: net.Socket): void;
  drain(graceMs: number): void;
  destroy(): void;
}

export interface ListenerOptions {
  handler: RequestHandler;
  /** Serves gRPC connections; without it, connect-node serves gRPC too. */
  grpc?: GrpcConnections;
  log: Logger;
  /** Where to count accepted connections by the server that took them. */
  metrics?: MetricsRegistry;
  tls?: { certFile: string; keyFile: string } | undefined;
  /** How long a new cleartext connection may stay silent before its protocol is known. */
  sniffTimeoutMs?: number;
}

export interface Listener {
  /** Binds the port; resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops accepting connections, lets in-flight requests finish and closes idle
   * connections. Resolves when every connection is gone or when `graceMs` is over;
   * in the latter case `onGraceExpired` runs (to abort handlers) and remaining
   * connections are destroyed shortly after.
   */
  close(graceMs: number, onGraceExpired?: () => void): Promise<void>;
  /** Number of open client connections (HTTP/1.1 sockets, HTTP/2 sessions, gRPC connections, unsniffed sockets). */
  connectionCount(): number;
}

const PREFACE_START = Buffer.from("PRI");
// How long an HTTP/2 client may stay silent after its SETTINGS before we send ours (see h2-first-request.ts).
const SETTINGS_GRACE_MS = 5;
// The first request's headers must arrive within this many bytes (the frames before them are small).
const MAX_FIRST_REQUEST_BYTES = 256 * 1024;
// Time given to handlers to write their error after the grace period, before sockets are destroyed.
const ABORT_FLUSH_MS = 250;

export function createListener(opts: ListenerOptions): Listener {
  const { handler, log } = opts;
  const sniffTimeoutMs = opts.sniffTimeoutMs ?? 30_000;
  const accepted = new Counter({
    name: "openloop_connections_total",
    help: "Client connections by the server that took them: http1 (connect-node), http2 (connect-node), grpc (the gRPC server).",
    labelNames: ["server"] as const,
    registers: opts.metrics ? [opts.metrics] : [],
  });
  const countHttp1 = accepted.labels("http1");
  const countHttp2 = accepted.labels("http2");
  const countGrpc = accepted.labels("grpc");
  let closing = false;

  const sessions = new Set<http2.Http2Session>();
  const pending = new Set<net.Socket>(); // accepted, protocol not yet known
  const grpcSockets = new Set<net.Socket>(); // handed to the gRPC server
  const http1Sockets = new Map<net.Socket, number>(); // socket -> in-flight requests

  const h2 = http2.createServer({ settings: SERVER_HTTP2_SETTINGS });
  h2.on("request", handler);
  h2.on("session", (session: http2.ServerHttp2Session) => {
    countHttp2.inc();
    widenConnectionWindow(session);
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", (err) => log.debug({ err }, "http2 session error"));
    if (closing) session.close();
  });
  h2.on("sessionError", (err) => log.debug({ err }, "http2 session error"));
  h2.on("streamError", (err) => log.debug({ err }, "http2 stream error"));

  const h1 = http.createServer({ requestTimeout: 0, keepAliveTimeout: 5_000 });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    http1Sockets.set(socket, (http1Sockets.get(socket) ?? 0) + 1);
    if (closing) res.shouldKeepAlive = false;
    res.on("close", () => {
      const n = (http1Sockets.get(socket) ?? 1) - 1;
      if (!http1Sockets.has(socket)) return;
      http1Sockets.set(socket, n);
      if (closing && n === 0) socket.destroySoon();
    });
    handler(req, res);
  });
  h1.on("connection", (socket: net.Socket) => {
    countHttp1.inc();
    if (!http1Sockets.has(socket)) http1Sockets.set(socket, 0);
    socket.on("close", () => http1Sockets.delete(socket));
  });
  h1.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
    log.debug({ err: err.message, code: err.code }, "malformed HTTP/1.1 request");
    if (socket.writable && !(err.code === "ECONNRESET")) {
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    }
    socket.destroySoon();
  });

  const toH1 = (socket: net.Socket) => h1.emit("connection", socket);
  const toH2 = (socket: net.Socket) => {
    const grpc = opts.grpc;
    if (!grpc) return void h2.emit("connection", socket);
    pending.add(socket);
    readFirstRequest(socket, { graceMs: SETTINGS_GRACE_MS, maxBufferedBytes: MAX_FIRST_REQUEST_BYTES }, (first) => {
      pending.delete(socket);
      if (first instanceof Error) {
        log.debug({ err: first.message }, "unreadable HTTP/2 connection");
        return void socket.destroy();
      }
      if (closing) return void socket.destroy();
      const type = first.contentType ?? "";
      if (type.startsWith("application/grpc") && !type.startsWith("application/grpc-web")) {
        countGrpc.inc();
        grpcSockets.add(socket);
        socket.once("close", () => grpcSockets.delete(socket));
        grpc.inject(socket);
      } else {
        h2.emit("connection", socket);
      }
    });
  };

  let front: net.Server;
  if (opts.tls) {
    front = tls.createServer({
      cert: readFileSync(opts.tls.certFile),
      key: readFileSync(opts.tls.keyFile),
      ALPNProtocols: ["h2", "http/1.1"],
      noDelay: true,
    });
    front.on("secureConnection", (socket: tls.TLSSocket) => {
      if (closing) return void socket.destroy();
      if (socket.alpnProtocol === "h2") toH2(socket);
      else toH1(socket);
    });
    front.on("tlsClientError", (err) => log.debug({ err: err.message }, "TLS handshake failed"));
  } else {
    // noDelay: without it, the last small write of a response can wait ~40 ms for the
    // client's delayed ACK (Nagle's algorithm).
    front = net.createServer({ noDelay: true }, (socket) => {
      if (closing) return void socket.destroy();
      sniff(socket);
    });
  }
  front.on("error", (err) => log.error({ err }, "listener error"));

  function sniff(socket: net.Socket): void {
    pending.add(socket);
    let head: Buffer = Buffer.alloc(0);
    const done = () => {
      pending.delete(socket);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      socket.setTimeout(0);
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE_START.length);
      const isH2 = head.subarray(0, n).equals(PREFACE_START.subarray(0, n));
      if (isH2 && head.length < PREFACE_START.length) return; // wait for more bytes
      done();
      socket.pause();
      socket.unshift(head);
      // http2 reads the unshifted bytes itself on the next tick; resuming would drop them.
      if (isH2) return void toH2(socket);
      toH1(socket);
      socket.resume();
    };
    const onError = () => {
      done();
      socket.destroy();
    };
    const onClose = () => done();
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.setTimeout(sniffTimeoutMs, () => {
      done();
      socket.destroy();
    });
  }

  const connectionCount = () => sessions.size + http1Sockets.size + pending.size + grpcSockets.size;

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        front.once("error", onError);
        front.listen(port, host, () => {
          front.removeListener("error", onError);
          resolve((front.address() as net.AddressInfo).port);
        });
      });
    },

    async close(graceMs, onGraceExpired) {
      closing = true;
      const stopped = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const socket of pending) socket.destroy();
      for (const session of sessions) session.close(); // GOAWAY: in-flight streams continue
      // GOAWAY now; the connections are destroyed below, once aborted calls had time to say so
      // (grpc-js's own forced close would reset them with CANCEL, which clients report as such).
      opts.grpc?.drain(graceMs + 10 * ABORT_FLUSH_MS);
      for (const [socket, inFlight] of http1Sockets) if (inFlight === 0) socket.destroySoon();

      const drained = new Promise<boolean>((resolve) => {
        const started = Date.now();
        const poll = () => {
          if (connectionCount() === 0) return resolve(true);
          if (Date.now() - started >= graceMs) return resolve(false);
          timer = setTimeout(poll, 20);
        };
        let timer = setTimeout(poll, 0);
      });
      if (!(await drained)) {
        log.warn({ connections: connectionCount(), graceMs }, "shutdown grace period over; aborting in-flight calls");
        onGraceExpired?.();
        await new Promise((r) => setTimeout(r, ABORT_FLUSH_MS));
        for (const session of sessions) session.destroy();
        for (const socket of http1Sockets.keys()) socket.destroy();
        for (const socket of pending) socket.destroy();
        for (const socket of grpcSockets) socket.destroy();
      }
      opts.grpc?.destroy();
      await stopped;
    },

    connectionCount,
  };
}
