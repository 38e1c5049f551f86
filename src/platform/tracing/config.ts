// telemetry.otlp: where spans go. Off unless an endpoint is set, in the file or the environment.
import { z } from "zod";

export const telemetryConfigSchema = z
  .object({
    otlp: z
      .object({
        /** Base URL of an OTLP/HTTP receiver (http://collector:4318); spans go to <endpoint>/v1/traces. Unset: tracing is off. */
        endpoint: z.string().url().optional(),
        /** Extra headers of the export requests (an API key of a hosted backend). */
        headers: z.record(z.string(), z.string()).default({}),
        /** service.name of the exported resource. */
        serviceName: z.string().min(1).default("openloop"),
        /** Most spans waiting for export; newer ones are dropped beyond it, so a dead collector cannot grow the heap. */
        maxQueueSize: z.number().int().positive().default(2048),
        /** How often the batch of finished spans is exported, in milliseconds. */
        exportIntervalMs: z.number().int().positive().default(1000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

/**
 * OPENLOOP_OTLP_ENDPOINT, else the standard OTEL_EXPORTER_OTLP_ENDPOINT, sets the endpoint;
 * OTEL_SERVICE_NAME the service name. The file's values lose to the environment, as elsewhere.
 */
export function applyTelemetryEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const endpoint = env.OPENLOOP_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const serviceName = env.OTEL_SERVICE_NAME;
  if (!endpoint && !serviceName) return;
  const telemetry = { ...((raw.telemetry as Record<string, unknown>) ?? {}) };
  const otlp = { ...((telemetry.otlp as Record<string, unknown>) ?? {}) };
  if (endpoint) otlp.endpoint = endpoint;
  if (serviceName) otlp.serviceName = serviceName;
  telemetry.otlp = otlp;
  raw.telemetry = telemetry;
}
