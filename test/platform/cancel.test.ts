// A client that cancels a stream partway is not a server failure: CANCELED in the metrics,
// one debug line, no error-level line, on every transport and stream kind.
import http from "node:http";
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { FeedbackService, IngestSamplesRequestSchema, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { ERROR, startObservedServer, type ObservedServer } from "../support/observed-server.js";
import { envelope, ROUTES, type Route } from "../support/raw-rpc.js";
import { grpcurlPath, run } from "../support/tools.js";

const INGEST = "openloop.feedback.v1.FeedbackService/IngestSamples";
const REFLECTION = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const WATCH = "grpc.health.v1.Health/Watch";

/** Resolves once `ready()` is true, checking every few milliseconds; fails after 10 s. */
async function until(what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sample = { model: "reg", samples: [{ features: { x: { kind: { case: "doubleValue" as const, value: 1 } } }, outcome: { kind: { case: "value" as const, value: 1 } } }] };

const CONTENT_TYPES: Record<Route, string> = {
  grpc: "application/grpc+proto",
  "grpc-on-connect-node": "application/grpc+proto",
  "connect-h1": "application/connect+proto",
  "connect-h2": "application/connect+proto",
  "grpc-web-h1": "application/grpc-web+proto",
  "grpc-web-h2": "application/grpc-web+proto",
};

/**
 * Opens a client stream on `route`, sends one message without ending the stream, waits for
 * `started`, then drops the connection (as a client that crashes or exits does).
 */
async function dropMidStream(baseUrl: string, route: Route, path: string, message: Buffer, started: () => Promise<void>): Promise<void> {
  const headers = { "content-type": CONTENT_TYPES[route], te: "trailers", "connect-protocol-version": "1" };
  if (route === "connect-h1" || route === "grpc-web-h1") {
    const req = http.request(`${baseUrl}${path}`, { method: "POST", headers: { ...headers, "transfer-encoding": "chunked" } });
    req.on("error", () => {});
    req.write(message);
    await started();
    req.destroy();
    return;
  }
  const session = http2.connect(baseUrl);
  session.on("error", () => {});
  // A session that opens with a request other than gRPC stays with connect-node.
  if (route !== "grpc") await new Promise((resolve) => session.request({ ":path": "/metrics" }).on("close", resolve).resume());
  const stream = session.request({ ":method": "POST", ":path": path, ...headers });
  stream.on("error", () => {});
  stream.write(message);
  await started();
  session.destroy();
}

describe("a client cancelling a stream partway", () => {
  let s: ObservedServer;
  const sessions: Http2SessionManager[] = [];
  let transports: [string, Transport][];

  beforeAll(async () => {
    s = await startObservedServer();
    const grpcJsSession = new Http2SessionManager(s.url);
    // A session that opens with a Connect call stays with connect-node for its gRPC calls too.
    const connectNodeSession = new Http2SessionManager(s.url);
    sessions.push(grpcJsSession, connectNodeSession);
    const connectH2 = createConnectTransport({ baseUrl: s.url, httpVersion: "2", sessionManager: connectNodeSession });
    await createClient(Health, connectH2).check({});
    transports = [
      ["gRPC (the gRPC server)", createGrpcTransport({ baseUrl: s.url, sessionManager: grpcJsSession })],
      ["gRPC (connect-node)", createGrpcTransport({ baseUrl: s.url, sessionManager: connectNodeSession })],
      ["Connect (HTTP/2)", connectH2],
      ["gRPC-Web (HTTP/2)", createGrpcWebTransport({ baseUrl: s.url, httpVersion: "2", sessionManager: connectNodeSession })],
    ];
    await createClient(FeedbackService, transports[0][1]).createOnlineModel({ name: "reg", task: Task.REGRESSION });
  });
  afterAll(async () => {
    for (const m of sessions) m.abort();
    await s?.close();
  });

  /** Runs `cancelPartway` on every transport; each cancelled call must count as CANCELED and log nothing above debug. */
  async function expectCanceled(rpc: string, cancelPartway: (t: Transport) => Promise<unknown>, over: [string, Transport][] = transports) {
    for (const [name, transport] of over) {
      const before = await s.rpcCounts();
      const errors = s.lines.filter((l) => l.level >= ERROR).length;
      const lines = s.lines.length;
      const outcome = await cancelPartway(transport).then(
        () => "OK",
        (e: unknown) => ConnectError.from(e).code,
      );
      expect({ name, outcome }).toEqual({ name, outcome: Code.Canceled });
      // The server hears of the cancellation a moment after the client.
      await until(`${name}: ${rpc} counted CANCELED`, async () => (await s.rpcCounts()).get(`${rpc} CANCELED`) === (before.get(`${rpc} CANCELED`) ?? 0) + 1).catch(async (e: unknown) => {
        throw new Error(`${String(e)}; counts ${JSON.stringify([...(await s.rpcCounts())].filter(([k]) => k.startsWith(rpc)))}; lines ${JSON.stringify(s.lines.slice(lines).map((l) => [l.level, l.msg, l.rpc, l.code, (l.err as { message?: string } | undefined)?.message ?? l.err]))}`);
      });
      const after = await s.rpcCounts();
      for (const [key, n] of after) if (key.startsWith(`${rpc} `) && !key.endsWith(" CANCELED")) expect({ name, key, n }).toEqual({ name, key, n: before.get(key) });
      expect(s.lines.slice(errors).filter((l) => l.level >= ERROR)).toEqual([]);
      const logged = s.lines.slice(lines).filter((l) => l.rpc === rpc);
      expect({ name, logged: logged.map((l) => [l.level, l.code]) }).toEqual({ name, logged: [[20, "CANCELED"]] });
    }
  }

  const running = async () => /^openloop_rpc_in_flight 1$/m.test(await (await fetch(`${s.url}/metrics`)).text());

  it("counts an IngestSamples that a grpc-js client cancels partway as CANCELED, at debug level", async () => {
    await expectCanceled(INGEST, async () => {
      const client = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
      try {
        const done = new Promise<grpc.ServiceError | undefined>((resolve) => {
          const call = client.makeClientStreamRequest(`/${INGEST}`, (b: Buffer) => b, (b: Buffer) => b, (err) => resolve(err ?? undefined));
          call.write(Buffer.from(toBinary(IngestSamplesRequestSchema, create(IngestSamplesRequestSchema, sample))));
          void until("the call running on the server", running).then(() => call.cancel());
        });
        const err = await done;
        if (err) throw new ConnectError(err.details, err.code as number as Code);
      } finally {
        client.close();
      }
    }, [["gRPC (grpc-js client)", undefined as never]]);
  });

  it("counts an IngestSamples whose client drops its connection partway as CANCELED, at debug level, on every route", async () => {
    const message = envelope(toBinary(IngestSamplesRequestSchema, create(IngestSamplesRequestSchema, sample)));
    for (const route of ROUTES) {
      await expectCanceled(INGEST, async () => {
        await dropMidStream(s.url, route, `/${INGEST}`, message, () => until(`${route}: the call running on the server`, running));
        throw new ConnectError("dropped", Code.Canceled);
      }, [[route, undefined as never]]);
    }
  });

  it("counts a reflection stream whose client drops its connection partway as CANCELED, at debug level, on every HTTP/2 route", async () => {
    const message = envelope(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } })));
    for (const route of ROUTES.filter((r) => !r.endsWith("-h1"))) {
      await expectCanceled(REFLECTION, async () => {
        await dropMidStream(s.url, route, `/${REFLECTION}`, message, () => until(`${route}: the call running on the server`, running));
        throw new ConnectError("dropped", Code.Canceled);
      }, [[route, undefined as never]]);
    }
  });

  it("counts a cancelled Health/Watch as CANCELED, at debug level", async () => {
    await expectCanceled(WATCH, async (transport) => {
      const abort = new AbortController();
      for await (const res of createClient(Health, transport).watch({ service: "" }, { signal: abort.signal })) {
        expect(res.status).toBe(Status.SERVING);
        abort.abort();
      }
    });
  });

  it("counts neither Watch nor the reflection stream of `grpcurl -max-time` as a server failure", async () => {
    const errors = s.lines.filter((l) => l.level >= ERROR).length;
    const res = await run(grpcurlPath(), ["-plaintext", "-max-time", "1", "-d", '{"service": ""}', `127.0.0.1:${s.port}`, WATCH]);
    expect(res.stdout).toContain("SERVING");
    await until("both of grpcurl's calls counted", async () => {
      const counts = [...(await s.rpcCounts())].filter(([k]) => k.startsWith(`${REFLECTION} `) || k.startsWith(`${WATCH} `));
      return counts.length >= 2;
    });
    const counts = [...(await s.rpcCounts())].filter(([k]) => k.startsWith(`${REFLECTION} `) || k.startsWith(`${WATCH} `));
    for (const [key] of counts) expect(key).toMatch(/ (OK|CANCELED|DEADLINE_EXCEEDED)$/);
    expect(s.lines.slice(errors).filter((l) => l.level >= ERROR)).toEqual([]);
  });
});
