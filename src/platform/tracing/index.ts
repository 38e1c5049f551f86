// OpenTelemetry tracing of the server: see tracer.ts (the tracer and span helpers), rpc.ts
// (RPC server spans on every transport) and stores.ts (storage operations).
export { applyTelemetryEnv, telemetryConfigSchema, type TelemetryConfig } from "./config.js";
export { annotateSpan, inSpan, SpanKind, startChildSpan, startServerSpan, startTracing, traceLogFields, tracingEnabled, type RequestSpan, type Tracing } from "./tracer.js";
export { endRpcSpan, grpcSpanStarter, traceGrpcHandler, tracingInterceptors, traceTransport } from "./rpc.js";
export { traceStore } from "./stores.js";
export { traceCacheLookup, traceProviderCall } from "./llm.js";
