// LLMService: maps the proto contract to the gateway and back.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  CacheMode as ProtoCacheMode,
  FinishReason as ProtoFinishReason,
  GenerateResponseSchema,
  GenerateStreamDoneSchema,
  GenerateStreamResponseSchema,
  GetMetricsResponseSchema,
  LLMService,
  ListModelsResponseSchema,
  ModelSource as ProtoModelSource,
  Role,
  type ChatMessage as ProtoChatMessage,
  type GenerateRequest,
  type GenerateStreamRequest,
} from "../../gen/openloop/llm/v1/llm_service_pb.js";
import type { CacheMode, Gateway, GenerateCall, ModelSource } from "./gateway.js";
import type { ModelMetricsSnapshot } from "./metrics.js";
import type { ChatMessage, ChatRole, FinishReason } from "./providers/provider.js";
import { closeOnAbort } from "../platform/streams.js";

export function createLlmService(gateway: Gateway): ServiceImpl<typeof LLMService> {
  return {
    async listModels(req) {
      const models = await gateway.listModels(req.provider || undefined);
      return create(ListModelsResponseSchema, {
        models: models.map((m) => ({
          id: m.id,
          provider: m.provider,
          upstreamModel: m.upstreamModel,
          aliases: [...m.aliases],
          fallbacks: [...m.fallbacks],
          source: sources[m.source],
        })),
        defaultMaxTokens: gateway.tokenLimits.defaultMaxTokens,
        maxTokensLimit: gateway.tokenLimits.maxTokensLimit,
      });
    },

    async generate(req, ctx) {
      const a = await gateway.generate(toCall(req, ctx));
      return create(GenerateResponseSchema, {
        text: a.text,
        finishReason: finishReasons[a.finishReason],
        usage: a.usage,
        cached: a.cached,
        model: a.model,
        provider: a.provider,
        upstreamModel: a.upstreamModel,
      });
    },

    async *generateStream(req, ctx) {
      for await (const item of closeOnAbort(gateway.stream(toCall(req, ctx)), ctx.signal)) {
        if (item.type === "delta") {
          yield create(GenerateStreamResponseSchema, { event: { case: "textDelta", value: item.text } });
        } else {
          const done = create(GenerateStreamDoneSchema, {
            finishReason: finishReasons[item.finishReason],
            usage: item.usage,
            cached: item.cached,
            model: item.model,
            provider: item.provider,
            upstreamModel: item.upstreamModel,
          });
          yield create(GenerateStreamResponseSchema, { event: { case: "done", value: done } });
        }
      }
    },

    async getMetrics(req) {
      return create(GetMetricsResponseSchema, { models: gateway.metrics(req.model || undefined).map(toProtoMetrics) });
    },
  };
}

function toCall(req: GenerateRequest | GenerateStreamRequest, ctx: HandlerContext): GenerateCall {
  const timeoutMs = ctx.timeoutMs();
  return {
    model: req.model,
    messages: toMessages(req.messages, req.prompt),
    params: {
      maxTokens: req.maxTokens,
      temperature: req.temperature,
      topP: req.topP,
      stop: req.stop,
      seed: req.seed === undefined ? undefined : toSeed(req.seed),
    },
    cacheMode: cacheModes[req.cacheMode] ?? badCacheMode(req.cacheMode),
    signal: ctx.signal,
    deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
  };
}

function toMessages(messages: ProtoChatMessage[], prompt: string): ChatMessage[] {
  if (messages.length > 0 && prompt) throw new ConnectError("give either messages or prompt, not both", Code.InvalidArgument);
  if (prompt) return [{ role: "user", content: prompt }];
  return messages.map((m, i) => {
    const role = roles[m.role];
    if (!role) throw new ConnectError(`messages[${i}].role must be ROLE_SYSTEM, ROLE_USER or ROLE_ASSISTANT`, Code.InvalidArgument);
    return { role, content: m.content };
  });
}

function toSeed(seed: bigint): number {
  if (seed > BigInt(Number.MAX_SAFE_INTEGER) || seed < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ConnectError(`seed must be within ±2^53, got ${seed}`, Code.InvalidArgument);
  }
  return Number(seed);
}

function badCacheMode(mode: number): never {
  throw new ConnectError(`cache_mode ${mode} is not one of USE, BYPASS, REFRESH`, Code.InvalidArgument);
}

function toProtoMetrics(m: ModelMetricsSnapshot) {
  return {
    model: m.model,
    provider: m.provider,
    requests: BigInt(m.requests),
    errors: BigInt(m.errors),
    errorsByCode: Object.fromEntries(Object.entries(m.errorsByCode).map(([k, v]) => [k, BigInt(v)])),
    inputTokens: BigInt(m.inputTokens),
    outputTokens: BigInt(m.outputTokens),
    cacheHits: BigInt(m.cacheHits),
    cacheMisses: BigInt(m.cacheMisses),
    inFlight: BigInt(Math.max(0, m.inFlight)),
    latency: { ...m.latency, count: BigInt(m.latency.count) },
    timeToFirstToken: { ...m.timeToFirstToken, count: BigInt(m.timeToFirstToken.count) },
  };
}

const roles: Partial<Record<Role, ChatRole>> = {
  [Role.SYSTEM]: "system",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
};

const cacheModes: Partial<Record<ProtoCacheMode, CacheMode>> = {
  [ProtoCacheMode.UNSPECIFIED]: "use",
  [ProtoCacheMode.USE]: "use",
  [ProtoCacheMode.BYPASS]: "bypass",
  [ProtoCacheMode.REFRESH]: "refresh",
};

const finishReasons: Record<FinishReason, ProtoFinishReason> = {
  stop: ProtoFinishReason.STOP,
  length: ProtoFinishReason.LENGTH,
  content_filter: ProtoFinishReason.CONTENT_FILTER,
  tool_calls: ProtoFinishReason.TOOL_CALLS,
  other: ProtoFinishReason.OTHER,
};

const sources: Record<ModelSource, ProtoModelSource> = {
  catalog: ProtoModelSource.CATALOG,
  provider: ProtoModelSource.PROVIDER,
  registry: ProtoModelSource.REGISTRY,
};
