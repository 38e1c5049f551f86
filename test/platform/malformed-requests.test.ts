// Unreadable request messages, first or later in a stream, are the client's mistake on every
// transport: INVALID_ARGUMENT, counted and logged as INVALID_ARGUMENT (never INTERNAL, never
// an error-level line with a stack).
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeedbackService, IngestSamplesRequestSchema, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { RegisterModelVersionRequestSchema } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { ERROR, startObservedServer, type ObservedServer } from "../support/observed-server.js";
import { createRawClient, ROUTES, type RawClient, type StreamKind } from "../support/raw-rpc.js";

/** Field 1, length-delimited, claiming more bytes than follow. */
const BAD = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]);

/** `depth` nested groups of an unknown field: fine for a parser with a recursion limit. */
function nestedGroups(depth: number): Buffer {
  const start = (15 << 3) | 3;
  const end = (15 << 3) | 4;
  return Buffer.concat([Buffer.alloc(depth, start), Buffer.alloc(depth, end)]);
}

const INGEST = "/openloop.feedback.v1.FeedbackService/IngestSamples";
const REGISTER = "/openloop.registry.v1.RegistryService/RegisterModelVersion";
const validIngest = Buffer.from(toBinary(IngestSamplesRequestSchema, create(IngestSamplesRequestSchema, { model: "reg" })));
const header = Buffer.from(toBinary(RegisterModelVersionRequestSchema, create(RegisterModelVersionRequestSchema, { part: { case: "header", value: { name: "m", version: "1", type: "linear" } } })));

const listServices = Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } })));

const CASES: readonly { name: string; path: string; kind: StreamKind; messages: Buffer[] }[] = [
  { name: "IngestSamples [valid message, 0a ff ff ff 0f]", path: INGEST, kind: "client_streaming", messages: [validIngest, BAD] },
  { name: "RegisterModelVersion [header, 0a ff ff ff 0f]", path: REGISTER, kind: "client_streaming", messages: [header, BAD] },
  { name: "RegisterModelVersion [header, 20,000 nested groups]", path: REGISTER, kind: "client_streaming", messages: [header, nestedGroups(20_000)] },
  { name: "IngestSamples [0a ff ff ff 0f]", path: INGEST, kind: "client_streaming", messages: [BAD] },
  { name: "RegisterModelVersion [0a ff ff ff 0f]", path: REGISTER, kind: "client_streaming", messages: [BAD] },
  { name: "GenerateStream [0a ff ff ff 0f]", path: "/openloop.llm.v1.LLMService/GenerateStream", kind: "server_streaming", messages: [BAD] },
  { name: "DownloadArtifact [0a ff ff ff 0f]", path: "/openloop.registry.v1.RegistryService/DownloadArtifact", kind: "server_streaming", messages: [BAD] },
  { name: "ExecutePipelineStream [0a ff ff ff 0f]", path: "/openloop.pipeline.v1.PipelineService/ExecutePipelineStream", kind: "server_streaming", messages: [BAD] },
  { name: "Health/Check [0a ff ff ff 0f]", path: "/grpc.health.v1.Health/Check", kind: "unary", messages: [BAD] },
  { name: "ServerReflectionInfo [valid request, 0a ff ff ff 0f]", path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", kind: "bidi_streaming", messages: [listServices, BAD] },
];

/** A client stream through a real grpc-js client that sends raw Buffers (identity serializers). */
function grpcJsClientStream(port: number, path: string, messages: Buffer[]): Promise<grpc.ServiceError | Buffer> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<grpc.ServiceError | Buffer>((resolve) => {
    const call = client.makeClientStreamRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      (err, res) => resolve(err ?? res!),
    );
    for (const m of messages) call.write(m);
    call.end();
  }).finally(() => client.close());
}

const rpcOf = (path: string) => path.slice(1);

describe("malformed request messages", () => {
  let s: ObservedServer;
  let raw: RawClient;
  beforeAll(async () => {
    s = await startObservedServer();
    await createClient(FeedbackService, createGrpcTransport({ baseUrl: s.url })).createOnlineModel({ name: "reg", task: Task.REGRESSION });
    raw = createRawClient(s.url);
  });
  afterAll(async () => {
    raw?.close();
    await s?.close();
  });

  for (const c of CASES) {
    it(`answers INVALID_ARGUMENT to ${c.name} on every transport, and counts and logs it as such`, async () => {
      const key = `${rpcOf(c.path)} INVALID_ARGUMENT`;
      const before = (await s.rpcCounts()).get(key) ?? 0;
      const errorsBefore = s.lines.filter((l) => l.level >= ERROR).length;
      // Bidi streams need HTTP/2.
      const routes = c.kind === "bidi_streaming" ? ROUTES.filter((r) => !r.endsWith("-h1")) : ROUTES;
      for (const route of routes) {
        const answer = await raw.call(route, { path: c.path, kind: c.kind, messages: c.messages });
        expect({ route, code: answer.code }).toEqual({ route, code: grpc.status.INVALID_ARGUMENT });
      }
      const counts = await s.rpcCounts();
      expect(counts.get(key)).toBe(before + routes.length);
      expect(counts.get(`${rpcOf(c.path)} INTERNAL`)).toBeUndefined();
      expect(s.lines.slice(errorsBefore).filter((l) => l.level >= ERROR)).toEqual([]);
      const logged = s.lines.filter((l) => l.rpc === rpcOf(c.path) && l.msg === "rpc").map((l) => l.code);
      expect(logged.filter((code) => code !== "INVALID_ARGUMENT")).toEqual([]);
    });
  }

  it("answers INVALID_ARGUMENT to a grpc-js client whose later stream message is unreadable", async () => {
    for (const messages of [[validIngest, BAD]]) {
      const err = (await grpcJsClientStream(s.port, INGEST, messages)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    for (const messages of [[header, BAD], [header, nestedGroups(20_000)]]) {
      const err = (await grpcJsClientStream(s.port, REGISTER, messages)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
  });
});
