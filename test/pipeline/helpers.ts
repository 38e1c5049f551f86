// Shared helpers for the pipeline tests: a server whose LLM provider is a fake OpenAI upstream.
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { PipelineService, PipelineSpecSchema, type PipelineSpec } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { numberedGates } from "../support/gates.js";

export const MODEL = "fake-model";

export interface PipelineServer {
  server: TestServer;
  upstream: FakeLlmServer;
  client: Client<typeof PipelineService>;
  close(): Promise<void>;
}

/** The server's LLM calls go to a fake OpenAI-compatible upstream on loopback whose answers the test scripts. */
export function llmConfig(upstream: FakeLlmServer) {
  return {
    providers: { fake: { kind: "openai", apiKey: upstream.apiKey, baseUrl: upstream.baseUrl } },
    models: [{ id: MODEL, provider: "fake", upstreamModel: "fake-model-a" }],
    cache: { enabled: false },
    retry: { maxAttempts: 1 },
  };
}

export async function startPipelineServer(config: Record<string, unknown> = {}): Promise<PipelineServer> {
  const upstream = await startFakeOpenAI();
  const { pipeline, ...rest } = config;
  const server = await startTestServer({
    llm: llmConfig(upstream),
    pipeline: { hooks: { initialBackoffMs: 10, maxBackoffMs: 40, timeoutMs: 2_000 }, ...(pipeline as object) },
    ...rest,
  });
  return {
    server,
    upstream,
    client: createClient(PipelineService, server.grpc),
    close: async () => {
      await server.close();
      await upstream.close();
    },
  };
}

/** A spec in its proto JSON form, as a config file or a JSON client would write it. */
export function spec(json: Record<string, unknown>): PipelineSpec {
  return fromJson(PipelineSpecSchema, json as JsonObject);
}

export { failure } from "../support/gates.js";

/**
 * Makes a fake upstream send delta i (i >= 1) only after the client has seen i deltas, so each
 * delta crosses LLMService and the pipeline on its own (LLMService merges deltas that arrive
 * together). Pass `deltaGate` in the fake's answer and call `seen()` on each delta received.
 */
export function lockstep() {
  const gates = numberedGates();
  let count = 0;
  return {
    deltaGate: (i: number) => gates.wait(i),
    seen: () => gates.open(++count),
  };
}

let counter = 0;
/** A fresh pipeline name per test. */
export function uniqueName(prefix = "p"): string {
  return `${prefix}-${++counter}`;
}
