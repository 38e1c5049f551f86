// Shared helpers for the llm tests: a server with providers pointing at fakes, and a client.
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  CacheMode,
  GenerateRequestSchema,
  GenerateStreamRequestSchema,
  LLMService,
  type GenerateRequest,
  type GenerateStreamResponse,
} from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { numberedGates } from "../support/gates.js";
import { spawnServer, type SpawnedServer } from "../support/spawn.js";

export type LlmClient = Client<typeof LLMService>;

export interface LlmServer {
  server: TestServer;
  client: LlmClient;
  close(): Promise<void>;
}

/** Fast retries so tests that exercise them stay quick; the policy's shape is what is tested. */
export const fastRetry = { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20, multiplier: 2, jitter: 0.5, maxRetryAfterMs: 30_000 };

/** `llm` undefined: a config file without an llm section. */
export async function startLlmServer(llm: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Promise<LlmServer> {
  const server = await startTestServer({ llm, ...extra });
  const client = createClient(LLMService, server.grpc);
  return { server, client, close: () => server.close() };
}

export function request(model: string, init: Partial<Omit<GenerateRequest, "$typeName">> = {}) {
  return create(GenerateRequestSchema, { model, prompt: "Say hello", cacheMode: CacheMode.BYPASS, ...init });
}

export function streamRequest(model: string, init: Partial<Omit<GenerateRequest, "$typeName">> = {}) {
  return create(GenerateStreamRequestSchema, { model, prompt: "Say hello", cacheMode: CacheMode.BYPASS, ...init });
}

export async function collect(stream: AsyncIterable<GenerateStreamResponse>) {
  const deltas: string[] = [];
  let done: Extract<GenerateStreamResponse["event"], { case: "done" }>["value"] | undefined;
  for await (const msg of stream) {
    if (msg.event.case === "textDelta") deltas.push(msg.event.value);
    else if (msg.event.case === "done") done = msg.event.value;
  }
  return { deltas, done };
}

export { failure } from "../support/gates.js";

/**
 * Makes a fake send each delta only after the client has received the previous one, so every
 * delta crosses the gateway on its own (the gateway merges deltas that arrive while it is
 * still sending the previous one).
 */
export function lockstep() {
  const gates = numberedGates();
  return {
    deltaGate: (i: number) => gates.wait(i),
    async collect(stream: AsyncIterable<GenerateStreamResponse>) {
      const deltas: string[] = [];
      let done: Extract<GenerateStreamResponse["event"], { case: "done" }>["value"] | undefined;
      for await (const msg of stream) {
        if (msg.event.case === "textDelta") {
          deltas.push(msg.event.value);
          gates.open(deltas.length);
        } else if (msg.event.case === "done") done = msg.event.value;
      }
      return { deltas, done };
    },
  };
}

/** One openloop process of a multi-replica test, with an LLMService client on its own HTTP/2 session. */
export interface LlmReplica {
  readonly server: SpawnedServer;
  readonly sessions: Http2SessionManager;
  readonly llm: Client<typeof LLMService>;
}

/** Starts `count` openloop processes on one config (replicas sharing a Redis, say). */
export async function startLlmReplicas(config: Record<string, unknown>, count = 3): Promise<LlmReplica[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => spawnServer({ config })));
  return servers.map((server) => {
    const sessions = new Http2SessionManager(server.baseUrl);
    return { server, sessions, llm: createClient(LLMService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions })) };
  });
}

export async function stopLlmReplicas(replicas: readonly LlmReplica[]): Promise<void> {
  for (const r of replicas) r.sessions.abort();
  await Promise.all(replicas.map((r) => r.server.stop()));
}
