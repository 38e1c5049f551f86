// OpenTelemetry tracing over real connections: the server exports OTLP/HTTP protobuf to a
// loopback receiver that decodes it with the official OTLP proto definitions; the tests
// check one ExecutePipeline's span tree, the W3C traceparent continued on every transport,
// the codes recorded, and the trace ids in the log lines.
import os from "node:os";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LLMService, Role } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { loadConfig } from "../../src/config.js";
import { traceGrpcHandler, traceStore, traceTransport, tracingInterceptors } from "../../src/platform/tracing/index.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { spawnServer } from "../support/spawn.js";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { llmConfig, MODEL, spec } from "../pipeline/helpers.js";
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, spanTree, startReceiver, startTracedServer, TRACE_ID, type ExportedSpan, type OtlpReceiver, type TracedServer } from "./tracing-otlp/support.js";

let receiver: OtlpReceiver;
let upstream: FakeLlmServer;
let traced: TracedServer;
/** Everything the server exported, read once it has shut down (the batch is flushed then). */
let exported: ExportedSpan[];
let tree: ReturnType<typeof spanTree>;
const pipelineName = "traced";

beforeAll(async () => {
  receiver = await startReceiver();
  upstream = await startFakeOpenAI();
  traced = await startTracedServer(receiver, { llm: llmConfig(upstream) });

  // The calls whose spans the tests below read, each from its own caller span.
  await createClient(PipelineService, traced.transport("grpc", "00f067aa0ba902b7")).createPipeline({
    name: pipelineName,
    spec: spec({ inputVariables: ["topic"], preprocess: [{ template: { template: "About {{topic}}." } }], generate: [{ llmGenerate: { model: MODEL } }] }),
  });
  upstream.enqueue({ kind: "answer", deltas: ["Owls", " hoot."], inputTokens: 9, outputTokens: 3 });
  await createClient(PipelineService, traced.transport("grpc", "1111111111111111")).executePipeline({ name: pipelineName, inputs: { topic: "owls" } });
  const hi = { model: "no-such-model", messages: [{ role: Role.USER, content: "hi" }] };
  await expect(createClient(LLMService, traced.transport("connect", "2222222222222222")).generate(hi)).rejects.toMatchObject({ code: Code.NotFound });
  await expect(createClient(LLMService, traced.transport("grpc", "5555555555555555")).generate(hi)).rejects.toMatchObject({ code: Code.NotFound });
  upstream.enqueue({ kind: "answer", deltas: ["a", "b"], inputTokens: 5, outputTokens: 2 });
  const chunks = [];
  for await (const m of createClient(LLMService, traced.transport("grpc", "3333333333333333")).generateStream({ model: MODEL, messages: [{ role: Role.USER, content: "stream" }] })) chunks.push(m);
  expect(chunks.length).toBeGreaterThan(0);
  await createClient(LLMService, traced.transport("grpc-web", "4444444444444444")).listModels({});
  upstream.enqueue({ kind: "answer", deltas: ["c", "d"], inputTokens: 6, outputTokens: 2 });
  for await (const m of createClient(LLMService, traced.transport("connect", "8888888888888888")).generateStream({ model: MODEL, messages: [{ role: Role.USER, content: "stream 2" }] })) chunks.push(m);

  upstream.enqueue({ kind: "answer", deltas: ["e"], inputTokens: 4, outputTokens: 1 });
  const openai = await fetch(`${traced.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", traceparent: `00-${TRACE_ID}-9999999999999999-01` },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "openai" }] }),
  });
  expect(openai.status).toBe(200);
  await openai.text();

  await traced.close();
  exported = receiver.spans;
  tree = spanTree(exported);
}, 60_000);

afterAll(async () => {
  await traced?.close();
  await receiver?.close();
  await upstream?.close();
});

describe("tracing over OTLP", () => {
  it("exports protobuf to <endpoint>/v1/traces with the configured service name, flushed on shutdown", () => {
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    expect(receiver.contentTypes.every((t) => t === "application/x-protobuf")).toBe(true);
    expect(new Set(exported.map((s) => s.service))).toEqual(new Set(["openloop-under-test"]));
  });

  it("one ExecutePipeline: RPC, then pipeline, then stage, then Generate, then the provider call, in the caller's trace", () => {
    // The incoming traceparent is the root's parent: same trace id, the caller's span as parent.
    const rpc = tree.calledFrom("openloop.pipeline.v1.PipelineService/ExecutePipeline", "1111111111111111");
    expect(rpc.traceId).toBe(TRACE_ID);
    expect(rpc.traceState).toBe("vendor=opaque");
    expect(rpc.kind).toBe(SPAN_KIND_SERVER);
    expect(rpc.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.service": "openloop.pipeline.v1.PipelineService", "rpc.method": "ExecutePipeline", "rpc.grpc.status_code": 0 });

    const run = tree.onlyChild(rpc, `pipeline ${pipelineName}`);
    expect(run.attributes).toMatchObject({ "openloop.pipeline.name": pipelineName, "openloop.pipeline.revision": 1 });
    expect(run.attributes["openloop.pipeline.run_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(tree.childrenOf(run).map((s) => s.name)).toEqual(
      expect.arrayContaining(["pipeline.stage preprocess", "pipeline.stage generate", "pipeline.stage postprocess", "pipeline.stage validate"]),
    );
    const stage = tree.onlyChild(run, "pipeline.stage generate");
    expect(stage.attributes).toMatchObject({ "openloop.pipeline.stage": "generate", "openloop.pipeline.attempt": 1 });

    const generate = tree.onlyChild(stage, "openloop.llm.v1.LLMService/Generate");
    expect(generate.kind).toBe(SPAN_KIND_CLIENT);
    expect(generate.attributes).toMatchObject({ "rpc.system": "openloop_in_process", "rpc.method": "Generate", "rpc.grpc.status_code": 0 });

    const provider = tree.onlyChild(generate, "chat fake-model-a");
    expect(provider.kind).toBe(SPAN_KIND_CLIENT);
    expect(provider.attributes).toMatchObject({
      "gen_ai.provider.name": "fake",
      "gen_ai.request.model": "fake-model-a",
      "openloop.llm.model": MODEL,
      "openloop.llm.attempt": 1,
      "openloop.llm.cache_hit": false,
      "gen_ai.usage.input_tokens": 9,
      "gen_ai.usage.output_tokens": 3,
    });
  });

  it("store operations are spans inside the RPC that made them", () => {
    const create = tree.calledFrom("openloop.pipeline.v1.PipelineService/CreatePipeline", "00f067aa0ba902b7");
    expect(tree.childrenOf(create).some((s) => s.name.startsWith("pipeline.store.") && s.attributes["db.system.name"] === "filesystem")).toBe(true);
  });

  it("Connect: traceparent continued, and the code the client received recorded; a caller's mistake is no server error", () => {
    const span = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "2222222222222222");
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.kind).toBe(SPAN_KIND_SERVER);
    expect(span.attributes).toMatchObject({ "rpc.system": "connect_rpc", "openloop.rpc.protocol": "connect", "rpc.grpc.status_code": Code.NotFound });
    expect(span.status).not.toBe(STATUS_ERROR);
  });

  it("native gRPC: the code the client received", () => {
    const span = tree.calledFrom("openloop.llm.v1.LLMService/Generate", "5555555555555555");
    expect(span.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.grpc.status_code": Code.NotFound });
  });

  it("gRPC-Web: traceparent continued", () => {
    const span = tree.calledFrom("openloop.llm.v1.LLMService/ListModels", "4444444444444444");
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.attributes).toMatchObject({ "rpc.system": "grpc", "openloop.rpc.protocol": "grpc-web", "rpc.grpc.status_code": 0 });
  });

  it("the OpenAI-compatible API: traceparent continued, the provider call a child of the request's span", () => {
    const span = tree.calledFrom("POST /v1/chat/completions", "9999999999999999");
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.kind).toBe(SPAN_KIND_SERVER);
    expect(tree.childrenOf(span).map((s) => s.name)).toEqual([expect.stringMatching(/^chat /)]);
  });

  it("a server-streaming RPC on native gRPC: its provider call is a child of the RPC's span", () => {
    const rpc = tree.calledFrom("openloop.llm.v1.LLMService/GenerateStream", "3333333333333333");
    expect(rpc.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.grpc.status_code": 0 });
    const provider = tree.onlyChild(rpc, "chat fake-model-a");
    expect(provider.attributes).toMatchObject({ "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 2 });
  });

  it("a server-streaming RPC on Connect: its provider call is a child of the RPC's span", () => {
    const rpc = tree.calledFrom("openloop.llm.v1.LLMService/GenerateStream", "8888888888888888");
    expect(rpc.attributes).toMatchObject({ "rpc.system": "connect_rpc", "rpc.grpc.status_code": 0 });
    const provider = tree.onlyChild(rpc, "chat fake-model-a");
    expect(provider.attributes).toMatchObject({ "gen_ai.usage.input_tokens": 6, "gen_ai.usage.output_tokens": 2 });
  });

  it("log lines written inside a span carry its trace_id and span_id", () => {
    const rpc = tree.calledFrom("openloop.pipeline.v1.PipelineService/ExecutePipeline", "1111111111111111");
    const line = traced.logLines.find((l) => l.rpc === "openloop.pipeline.v1.PipelineService/ExecutePipeline");
    expect(line).toMatchObject({ trace_id: TRACE_ID, span_id: rpc.spanId });
    // Lines outside any span (start-up) carry none.
    expect(traced.logLines.find((l) => l.msg === "openloop listening")!.trace_id).toBeUndefined();
  });
});

describe("tracing off (the default)", () => {
  it("wraps nothing: handlers, interceptors, transports and stores are the originals", () => {
    const handler = () => {};
    const store = { get: async () => 1 };
    const t = {} as Transport;
    expect(traceGrpcHandler(LLMService.method.generate, handler)).toBe(handler);
    expect(tracingInterceptors()).toEqual([]);
    expect(traceTransport(t)).toBe(t);
    expect(traceStore(store, "x")).toBe(store);
  });

  it("is configured from the environment: OPENLOOP_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT, and OTEL_SERVICE_NAME", () => {
    const cwd = os.tmpdir();
    expect(loadConfig({}, cwd).telemetry.otlp.endpoint).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, cwd).telemetry.otlp.endpoint).toBe("http://collector:4318");
    const both = loadConfig({ OPENLOOP_OTLP_ENDPOINT: "http://ours:4318", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SERVICE_NAME: "gw" }, cwd);
    expect(both.telemetry.otlp).toMatchObject({ endpoint: "http://ours:4318", serviceName: "gw" });
    expect(() => loadConfig({ OPENLOOP_OTLP_ENDPOINT: "not a url" }, cwd)).toThrow(/telemetry\.otlp\.endpoint/);
  });
});

describe("the production entry point (src/main.ts)", () => {
  it("takes the OTLP endpoint and service name from OTEL_* variables, and exports the spans on SIGTERM", async () => {
    const own = await startReceiver();
    const server = await spawnServer({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: own.url, OTEL_SERVICE_NAME: "openloop-from-env" } });
    const sessionManager = new Http2SessionManager(server.baseUrl);
    try {
      const transport = createGrpcTransport({ baseUrl: server.baseUrl, sessionManager });
      await createClient(LLMService, transport).listModels({}, { headers: { traceparent: `00-${TRACE_ID}-6666666666666666-01` } });
    } finally {
      sessionManager.abort();
      expect(await server.stop()).toBe(0);
      await own.close();
    }
    const span = spanTree(own.spans).calledFrom("openloop.llm.v1.LLMService/ListModels", "6666666666666666");
    expect(span).toMatchObject({ traceId: TRACE_ID, service: "openloop-from-env", kind: SPAN_KIND_SERVER });
  }, 60_000);
});

describe("servers of one process", () => {
  it("share one tracing: a server's spans are exported after another one stopped, and flushed when the last stops", async () => {
    const own = await startReceiver();
    const a = await startTracedServer(own, {});
    const b = await startTracedServer(own, {});
    try {
      await a.close();
      await createClient(LLMService, b.transport("grpc", "7777777777777777")).listModels({});
    } finally {
      await b.close();
      await own.close();
    }
    expect(spanTree(own.spans).calledFrom("openloop.llm.v1.LLMService/ListModels", "7777777777777777").traceId).toBe(TRACE_ID);
    // Both stopped: tracing is off again.
    expect(tracingInterceptors()).toEqual([]);
  });
});
