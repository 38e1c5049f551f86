// Raw RPC clients that send any bytes a protocol can carry, where the official clients refuse
// to send malformed messages: gRPC over a plain node:http2 session (to grpc-js, or to
// connect-node when the session opened with another request), Connect and gRPC-Web over
// HTTP/1.1 or HTTP/2. Each answer is read as its client would see it: the status code and
// message, or `NO_STATUS` when the call ended without one (a reset, a closed connection).
import http from "node:http";
import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";

/** Code of an answer that carried no RPC status at all. */
export const NO_STATUS = -1;

export interface RawAnswer {
  /** 0 for OK, a gRPC code, or NO_STATUS. */
  readonly code: Code | 0 | typeof NO_STATUS;
  readonly message: string;
  /** Response messages received before the status. */
  readonly messages: number;
}

export type StreamKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/** How a call reaches the server: the protocol, and which server inside it takes the connection. */
export type Route = "grpc" | "grpc-on-connect-node" | "connect-h1" | "connect-h2" | "grpc-web-h1" | "grpc-web-h2";

export const ROUTES: readonly Route[] = ["grpc", "grpc-on-connect-node", "connect-h1", "connect-h2", "grpc-web-h1", "grpc-web-h2"];

export interface RawCall {
  /** /package.Service/Method */
  readonly path: string;
  readonly kind: StreamKind;
  /** Request messages, each sent in its own envelope (Connect unary: the body itself). */
  readonly messages?: readonly Uint8Array[];
  /** The request body as is, instead of enveloped `messages` (truncated or lying frames). */
  readonly body?: Uint8Array;
  /** Extra request headers. */
  readonly headers?: Record<string, string>;
  /** Deadline sent to the server (default 10 s). */
  readonly timeoutMs?: number;
}

/** Wraps a message in the 5-byte envelope of gRPC, gRPC-Web and Connect streams. */
export function envelope(message: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.byteLength, 1);
  return Buffer.concat([head, message]);
}

export interface RawClient {
  call(route: Route, call: RawCall): Promise<RawAnswer>;
  close(): void;
}

/** Raw clients for every route to the server at `baseUrl`; connections are reused. */
export function createRawClient(baseUrl: string): RawClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let grpcSession: http2.ClientHttp2Session | undefined;
  let connectSession: Promise<http2.ClientHttp2Session> | undefined;

  const session = async (route: Route): Promise<http2.ClientHttp2Session> => {
    if (route === "grpc") {
      if (!grpcSession || grpcSession.closed || grpcSession.destroyed) grpcSession = openSession(baseUrl);
      return grpcSession;
    }
    // A session whose first request is not gRPC stays with connect-node for every later request.
    const s = await connectSession;
    if (s && !s.closed && !s.destroyed) return s;
    connectSession = (async () => {
      const fresh = openSession(baseUrl);
      await h2Request(fresh, { ":method": "GET", ":path": "/metrics" }, undefined, 10_000);
      return fresh;
    })();
    return connectSession;
  };

  return {
    async call(route, c) {
      const timeoutMs = c.timeoutMs ?? 10_000;
      const unaryConnect = (route === "connect-h1" || route === "connect-h2") && c.kind === "unary";
      const body = c.body ? Buffer.from(c.body) : (unaryConnect ? Buffer.concat((c.messages ?? []).map((m) => Buffer.from(m))) : Buffer.concat((c.messages ?? []).map((m) => envelope(m))));
      const headers = requestHeaders(route, c.kind, timeoutMs, c.headers);
      if (route === "connect-h1" || route === "grpc-web-h1") {
        const res = await h1Request(agent, baseUrl, c.path, headers, body, timeoutMs + 5_000);
        return route === "connect-h1" ? readConnect(res, unaryConnect) : readGrpcWeb(res);
      }
      const s = await session(route);
      const res = await h2Request(s, { ":method": "POST", ":path": c.path, ...headers }, body, timeoutMs + 5_000);
      if (route === "grpc" || route === "grpc-on-connect-node") return readGrpc(res);
      return route === "connect-h2" ? readConnect(res, unaryConnect) : readGrpcWeb(res);
    },
    close() {
      agent.destroy();
      grpcSession?.destroy();
      void connectSession?.then((s) => s.destroy(), () => {});
    },
  };
}

function openSession(baseUrl: string): http2.ClientHttp2Session {
  const s = http2.connect(baseUrl);
  s.on("error", () => {}); // a failed session fails its requests, which report it
  s.unref();
  return s;
}

function requestHeaders(route: Route, kind: StreamKind, timeoutMs: number, extra: Record<string, string> = {}): Record<string, string> {
  if (route === "grpc" || route === "grpc-on-connect-node") {
    return { "content-type": "application/grpc+proto", te: "trailers", "grpc-timeout": `${timeoutMs}m`, ...extra };
  }
  if (route === "grpc-web-h1" || route === "grpc-web-h2") {
    return { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "grpc-timeout": `${timeoutMs}m`, ...extra };
  }
  const streaming = kind !== "unary";
  return {
    "content-type": streaming ? "application/connect+proto" : "application/proto",
    "connect-protocol-version": "1",
    "connect-timeout-ms": String(timeoutMs),
    ...extra,
  };
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** Set when the exchange broke before a complete response (reset, closed connection). */
  readonly error?: Error;
}

function h1Request(agent: http.Agent, baseUrl: string, path: string, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let resHeaders: HttpAnswer["headers"] = {};
    const req = http.request(`${baseUrl}${path}`, { method: "POST", agent, headers: { ...headers, "content-length": String(body.byteLength) } }, (res) => {
      status = res.statusCode ?? 0;
      resHeaders = res.headers;
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status, headers: resHeaders, trailers: res.trailers, body: Buffer.concat(chunks) }));
      res.on("error", (error) => resolve({ status, headers: resHeaders, trailers: {}, body: Buffer.concat(chunks), error }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("client timeout")));
    req.on("error", (error) => resolve({ status, headers: resHeaders, trailers: {}, body: Buffer.concat(chunks), error }));
    req.end(body);
  });
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let resHeaders: HttpAnswer["headers"] = {};
    let trailers: HttpAnswer["trailers"] = {};
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === undefined });
    } catch (error) {
      return resolve({ status, headers: resHeaders, trailers, body: Buffer.alloc(0), error: error as Error });
    }
    stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      resHeaders = h;
    });
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", () => {});
    stream.on("close", () => {
      const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
      resolve({ status, headers: resHeaders, trailers, body: Buffer.concat(chunks), error: reset ? new Error(`RST_STREAM ${stream.rstCode}`) : undefined });
    });
    if (body !== undefined) stream.end(body);
  });
}

function header(h: HttpAnswer["headers"], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Splits enveloped bytes; the rest after the last whole envelope is ignored. */
function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  let at = 0;
  while (at + 5 <= body.byteLength) {
    const len = body.readUInt32BE(at + 1);
    if (at + 5 + len > body.byteLength) break;
    out.push({ flags: body[at], data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

function statusFrom(code: string | undefined, message: string | undefined, messages: number, error?: Error): RawAnswer {
  if (code === undefined || !/^\d+$/.test(code)) return { code: NO_STATUS, message: error?.message ?? "no grpc-status", messages };
  return { code: Number(code) as Code, message: decodeURIComponent(message ?? ""), messages };
}

function readGrpc(res: HttpAnswer): RawAnswer {
  const messages = envelopes(res.body).length;
  const code = header(res.trailers, "grpc-status") ?? header(res.headers, "grpc-status");
  const message = header(res.trailers, "grpc-message") ?? header(res.headers, "grpc-message");
  return statusFrom(code, message, messages, res.error);
}

function readGrpcWeb(res: HttpAnswer): RawAnswer {
  const frames = envelopes(res.body);
  const data = frames.filter((f) => (f.flags & 0x80) === 0).length;
  const trailerFrame = frames.find((f) => (f.flags & 0x80) !== 0);
  if (trailerFrame) {
    const fields = new Map<string, string>();
    for (const line of trailerFrame.data.toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    return statusFrom(fields.get("grpc-status"), fields.get("grpc-message"), data, res.error);
  }
  return statusFrom(header(res.headers, "grpc-status"), header(res.headers, "grpc-message"), data, res.error);
}

function readConnect(res: HttpAnswer, unary: boolean): RawAnswer {
  if (res.error && res.status === 0) return { code: NO_STATUS, message: res.error.message, messages: 0 };
  const type = header(res.headers, "content-type") ?? "";
  if (unary || !type.startsWith("application/connect+")) {
    if (res.status === 200 && !res.error) return { code: 0, message: "", messages: 1 };
    return { ...connectError(res.body, res.status), messages: 0 };
  }
  const frames = envelopes(res.body);
  const end = frames.find((f) => (f.flags & 0x02) !== 0);
  const data = frames.length - (end ? 1 : 0);
  if (!end) return { code: NO_STATUS, message: res.error?.message ?? "no end-stream message", messages: data };
  try {
    const json = JSON.parse(end.data.toString("utf8")) as { error?: { code?: string; message?: string } };
    if (!json.error) return { code: 0, message: "", messages: data };
    return { code: codeFromString(json.error.code ?? "") ?? Code.Unknown, message: json.error.message ?? "", messages: data };
  } catch {
    return { code: NO_STATUS, message: "unreadable end-stream message", messages: data };
  }
}

function connectError(body: Buffer, httpStatus: number): { code: Code | typeof NO_STATUS; message: string } {
  try {
    const json = JSON.parse(body.toString("utf8")) as { code?: string; message?: string };
    const code = codeFromString(json.code ?? "");
    if (code !== undefined) return { code, message: json.message ?? "" };
  } catch {
    // not a Connect error body
  }
  return { code: NO_STATUS, message: `HTTP ${httpStatus}` };
}
