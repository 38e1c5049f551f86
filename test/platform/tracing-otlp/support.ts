// What the tracing tests share: a loopback OTLP/HTTP receiver that decodes the exported
// protobuf with the official OTLP proto definitions (otlp-trace.binpb, extracted from
// go.opentelemetry.io/proto/otlp by extract-descriptors.py), and the server started as
// main.ts starts it (createLogger, startServer), exporting to that receiver.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createFileRegistry, fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { parseConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/platform/app.js";
import { startServer, type OpenloopServer } from "../../../src/server.js";

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(path.join(import.meta.dirname, "otlp-trace.binpb"))));
const ExportRequest = registry.getMessage("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest") as DescMessage;

export interface ExportedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** W3C tracestate carried with the span. */
  traceState: string;
  kind: number;
  attributes: Record<string, unknown>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  status: number;
  service: unknown;
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_ERROR = 2;

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");

type KeyValue = { key: string; value?: { value: { case: string | undefined; value?: unknown } } };
function attributesOf(kvs: KeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs) {
    const v = kv.value?.value;
    out[kv.key] = v?.case === "intValue" ? Number(v.value as bigint) : v?.value;
  }
  return out;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ExportedSpan[];
  readonly contentTypes: string[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<OtlpReceiver> {
  const spans: ExportedSpan[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(req.headers["content-type"] ?? "");
      // Read generically, with the .proto files' field names: no generated OTLP code is linked here.
      const msg = fromBinary(ExportRequest, Buffer.concat(chunks)) as unknown as {
        resourceSpans: { resource?: { attributes: KeyValue[] }; scopeSpans: { spans: Record<string, unknown>[] }[] }[];
      };
      for (const rs of msg.resourceSpans) {
        const resource = attributesOf(rs.resource?.attributes ?? []);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: hex(s.traceId as Uint8Array),
              spanId: hex(s.spanId as Uint8Array),
              parentSpanId: hex(s.parentSpanId as Uint8Array),
              name: s.name as string,
              traceState: s.traceState as string,
              kind: s.kind as number,
              attributes: attributesOf(s.attributes as KeyValue[]),
              status: (s.status as { code: number } | undefined)?.code ?? 0,
              service: resource["service.name"],
            });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, contentTypes, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

export interface TracedServer {
  readonly server: OpenloopServer;
  /** The server's JSON log lines. */
  readonly logLines: Record<string, unknown>[];
  /** A client transport whose calls carry traceparent 00-TRACE_ID-<parentSpan>-01 (and a tracestate). */
  transport(kind: "grpc" | "connect" | "grpc-web", parentSpan: string): Transport;
  /** Closes the clients and the server (which flushes its spans), and removes the data dir. */
  close(): Promise<void>;
}

/** Starts the server with tracing to `receiver`; spans are exported on shutdown (the export interval is long). */
export async function startTracedServer(receiver: OtlpReceiver, config: Record<string, unknown>): Promise<TracedServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-tracing-"));
  const parsed = parseConfig({
    dataDir,
    log: { level: "debug" },
    server: { host: "127.0.0.1", port: 0, shutdownGraceMs: 2_000 },
    telemetry: { otlp: { endpoint: receiver.url, serviceName: "openloop-under-test", exportIntervalMs: 600_000 } },
    ...config,
  });
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const server = await startServer(parsed, { log: createLogger(parsed, sink) });
  const sessions: Http2SessionManager[] = [];
  const agents: http.Agent[] = [];
  let closed: Promise<void> | undefined;
  return {
    server,
    logLines,
    transport(kind, parentSpan) {
      const baseUrl = server.url;
      const tracing: Interceptor = (next) => (req) => {
        req.header.set("traceparent", `00-${TRACE_ID}-${parentSpan}-01`);
        req.header.set("tracestate", "vendor=opaque");
        return next(req);
      };
      if (kind === "grpc") {
        const sessionManager = new Http2SessionManager(baseUrl);
        sessions.push(sessionManager);
        return createGrpcTransport({ baseUrl, sessionManager, interceptors: [tracing] });
      }
      const agent = new http.Agent({ keepAlive: true });
      agents.push(agent);
      const make = kind === "connect" ? createConnectTransport : createGrpcWebTransport;
      return make({ baseUrl, httpVersion: "1.1", nodeOptions: { agent }, interceptors: [tracing] });
    },
    close: () =>
      (closed ??= (async () => {
        for (const s of sessions) s.abort();
        for (const a of agents) a.destroy();
        await server.close();
        await rm(dataDir, { recursive: true, force: true });
      })()),
  };
}

/** Queries over what a server exported. */
export function spanTree(spans: readonly ExportedSpan[]) {
  const childrenOf = (parent: ExportedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
  return {
    childrenOf,
    /** The one child of `parent` named `name` (fails listing the children otherwise). */
    onlyChild(parent: ExportedSpan, name: string): ExportedSpan {
      const found = childrenOf(parent).filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`expected one child '${name}' of '${parent.name}', found: ${childrenOf(parent).map((s) => s.name).join(", ") || "none"}`);
      return found[0];
    },
    /** The span named `name` whose parent is the caller's span `parentSpanId`. */
    calledFrom(name: string, parentSpanId: string): ExportedSpan {
      const found = spans.filter((s) => s.name === name && s.parentSpanId === parentSpanId);
      if (found.length !== 1) throw new Error(`expected one '${name}' called from ${parentSpanId}, found ${found.length}`);
      return found[0];
    },
  };
}
