// What the Node and browser entries share: the options, the client's shape, and the key.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { FeatureService } from "./gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService } from "./gen/openloop/feedback/v1/feedback_service_pb.js";
import { LLMService } from "./gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "./gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { RegistryService } from "./gen/openloop/registry/v1/registry_service_pb.js";

export { FeatureService, FeedbackService, Health, LLMService, PipelineService, RegistryService };
// Errors are ConnectErrors with a Code, whatever the transport.
export { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** gRPC over HTTP/2 (Node only), the Connect protocol, or gRPC-Web. */
export type TransportKind = "grpc" | "connect" | "grpc-web";

export interface OpenloopClientOptions {
  /** The server's base URL, such as http://127.0.0.1:50051 or https://openloop.example. */
  readonly baseUrl: string;
  /** Sent as `authorization: Bearer <key>` on every call. */
  readonly apiKey?: string;
  /** Default: "grpc" in Node, "connect" in browsers. */
  readonly transport?: TransportKind;
  /** Run before the API key's interceptor (logging, deadlines, headers...). */
  readonly interceptors?: Interceptor[];
}

export interface OpenloopClient {
  readonly llm: Client<typeof LLMService>;
  readonly pipeline: Client<typeof PipelineService>;
  readonly registry: Client<typeof RegistryService>;
  readonly feature: Client<typeof FeatureService>;
  readonly feedback: Client<typeof FeedbackService>;
  /** grpc.health.v1.Health, which answers without a key. */
  readonly health: Client<typeof Health>;
  /** The underlying transport, for services or options this object does not cover. */
  readonly transport: Transport;
  /** Closes the HTTP/2 connection a Node client holds; a no-op elsewhere. */
  close(): void;
}

/** The caller's interceptors, then the one that adds the API key. */
export function interceptorsFor(options: OpenloopClientOptions): Interceptor[] {
  const { apiKey } = options;
  const key: Interceptor[] = apiKey
    ? [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${apiKey}`);
          return next(req);
        },
      ]
    : [];
  return [...(options.interceptors ?? []), ...key];
}

export function clientOn(transport: Transport, close: () => void = () => {}): OpenloopClient {
  return {
    llm: createClient(LLMService, transport),
    pipeline: createClient(PipelineService, transport),
    registry: createClient(RegistryService, transport),
    feature: createClient(FeatureService, transport),
    feedback: createClient(FeedbackService, transport),
    health: createClient(Health, transport),
    transport,
    close,
  };
}
