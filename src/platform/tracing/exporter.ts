// The OpenTelemetry SDK half of tracing: spans recorded by a tracer provider and exported over
// OTLP/HTTP (protobuf) in batches, the active span carried by AsyncLocalStorage. tracer.ts loads
// this module only when telemetry.otlp.endpoint is set, so a server without tracing never loads
// the SDK, its exporter or their dependencies.
import type { ContextManager, TextMapPropagator, Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { setGlobalErrorHandler, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";

// An unreachable collector fails every export; one warning a minute is enough.
const EXPORT_WARNING_INTERVAL_MS = 60_000;

export interface ExportSettings {
  /** The collector's traces URL (ending in /v1/traces). */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly serviceName: string;
  readonly maxQueueSize: number;
  readonly exportIntervalMs: number;
}

export interface Exporting {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
  readonly contextManager: ContextManager;
  /** Exports the spans still queued, then stops. */
  stop(): Promise<void>;
}

export function startExporting(settings: ExportSettings, log: Logger): Exporting {
  const { url, headers, serviceName, maxQueueSize, exportIntervalMs } = settings;
  const exporter = new OTLPTraceExporter({ url, headers });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize, scheduledDelayMillis: exportIntervalMs })],
  });
  let warned = -Infinity;
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - warned < EXPORT_WARNING_INTERVAL_MS) return;
    warned = now;
    log.warn({ url, err: (err as Error)?.message ?? String(err) }, "tracing: exporting spans failed");
  });
  return {
    tracer: provider.getTracer("openloop"),
    propagator: new W3CTraceContextPropagator(),
    contextManager: new AsyncLocalStorageContextManager().enable(),
    stop: () => provider.shutdown(),
  };
}
