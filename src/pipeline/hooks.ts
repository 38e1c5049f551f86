// Webhook delivery: POSTs of JSON run events, retried with exponential backoff from a bounded queue.
// Optional hooks never block a run; required ones are awaited by the caller through deliverNow.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { Counter, type Registry as MetricsRegistry } from "prom-client";
import type { Agent, fetch as undiciFetch } from "undici";
import type { PipelineConfig } from "./config.js";
import { HookAddressDeniedError, HookAddressPolicy } from "./hook-network.js";
import type { HookEvent, HookSpec } from "./types.js";
import { inSpan, SpanKind } from "../platform/tracing/index.js";

export interface HookPayload {
  event: HookEvent;
  runId: string;
  pipeline: string;
  revision: number;
  time: string;
  /** post_execute and error: per-stage timings so far. */
  timings?: { stage: string; attempt: number; durationMs: number }[];
  attempts?: number;
  /** error: the gRPC code name (INVALID_ARGUMENT...) and message. */
  error?: { code: string; message: string };
}

interface Delivery {
  id: string;
  hook: HookSpec;
  payload: HookPayload;
  body: string;
  attempt: number;
}

export class HookDeliveryError extends Error {
  override name = "HookDeliveryError";
  constructor(
    message: string,
    /** The hook's address is denied by the network rules (pipeline.hooks.allowHosts/allowCidrs). */
    readonly denied = false,
  ) {
    super(message);
  }
}

type Settings = PipelineConfig["hooks"];

export class HookDispatcher {
  private readonly ready: Delivery[] = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  /** Queued, in flight, or waiting to retry: what the queue bound counts. */
  private pending = 0;
  private active = 0;
  private closed = false;
  private readonly outcomes: Counter<"event" | "outcome">;
  /** Every delivery connects through this agent, which refuses denied addresses; made with the first. */
  private http: Promise<{ fetch: typeof undiciFetch; agent: Agent }> | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly log: Logger,
    metrics: MetricsRegistry,
  ) {
    this.outcomes = new Counter({
      name: "openloop_pipeline_hook_deliveries_total",
      help: "Webhook deliveries by event and outcome (delivered, failed after retries, dropped because the queue was full).",
      labelNames: ["event", "outcome"],
      registers: [metrics],
    });
  }

  /** Queues a delivery and returns at once; false when the queue is full and the event was dropped. */
  enqueue(hook: HookSpec, payload: HookPayload): boolean {
    if (this.closed) return false;
    if (this.pending >= this.settings.queueSize) {
      this.outcomes.inc({ event: payload.event, outcome: "dropped" });
      this.log.warn({ url: redactUrl(hook.url), event: payload.event, runId: payload.runId }, "webhook queue full: event dropped");
      return false;
    }
    this.pending++;
    this.ready.push({ id: randomUUID(), hook, payload, body: JSON.stringify(payload), attempt: 0 });
    this.pump();
    return true;
  }

  /** Delivers now, retrying with backoff; resolves when delivered, rejects with HookDeliveryError after the last try. */
  async deliverNow(hook: HookSpec, payload: HookPayload, signal: AbortSignal): Promise<void> {
    const delivery: Delivery = { id: randomUUID(), hook, payload, body: JSON.stringify(payload), attempt: 0 };
    for (;;) {
      delivery.attempt++;
      const failure = await this.post(delivery, signal);
      if (failure === undefined) {
        this.outcomes.inc({ event: payload.event, outcome: "delivered" });
        return;
      }
      if (!failure.retryable || delivery.attempt >= hook.maxAttempts || signal.aborted) {
        this.outcomes.inc({ event: payload.event, outcome: "failed" });
        throw new HookDeliveryError(`${failure.message} (after ${delivery.attempt} ${delivery.attempt === 1 ? "try" : "tries"})`, failure.denied);
      }
      await sleep(this.backoff(delivery.attempt), signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const c of this.inFlight) c.abort();
    this.ready.length = 0;
    const http = await this.http?.catch(() => undefined);
    await http?.agent.destroy();
  }

  /** undici and the guarded agent, loaded by the first delivery (a server without hooks never loads them). */
  private client(): Promise<{ fetch: typeof undiciFetch; agent: Agent }> {
    this.http ??= Promise.all([import("undici"), import("./hook-agent.js")]).then(([undici, { guardedAgent }]) => ({
      fetch: undici.fetch,
      agent: guardedAgent(new HookAddressPolicy(this.settings), this.settings.timeoutMs),
    }));
    return this.http;
  }

  /** Waits before retry n: initialBackoffMs * 2^(n-1), capped, with half of it random so retries spread out. */
  private backoff(attempt: number): number {
    const base = Math.min(this.settings.maxBackoffMs, this.settings.initialBackoffMs * 2 ** (attempt - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  private pump(): void {
    while (!this.closed && this.active < this.settings.concurrency && this.ready.length) {
      const delivery = this.ready.shift()!;
      this.active++;
      void this.attempt(delivery).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    delivery.attempt++;
    const failure = await this.post(delivery);
    if (this.closed) return;
    if (failure === undefined) {
      this.pending--;
      this.outcomes.inc({ event: delivery.payload.event, outcome: "delivered" });
      return;
    }
    if (!failure.retryable || delivery.attempt >= delivery.hook.maxAttempts) {
      this.pending--;
      this.outcomes.inc({ event: delivery.payload.event, outcome: "failed" });
      this.log.warn(
        { url: redactUrl(delivery.hook.url), event: delivery.payload.event, runId: delivery.payload.runId, attempts: delivery.attempt },
        `webhook delivery failed: ${failure.message}`,
      );
      return;
    }
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.ready.push(delivery);
      this.pump();
    }, this.backoff(delivery.attempt));
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** One POST in its span; undefined on a 2xx answer, else why it failed and whether another try could help. */
  private post(delivery: Delivery, signal?: AbortSignal): Promise<{ message: string; retryable: boolean; denied?: boolean } | undefined> {
    const attributes = { "openloop.pipeline.hook.event": delivery.payload.event, "url.full": redactUrl(delivery.hook.url), "openloop.pipeline.hook.attempt": delivery.attempt };
    return inSpan(`pipeline.hook ${delivery.payload.event}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const failure = await this.postOnce(delivery, signal);
      if (failure) span?.setAttribute("openloop.pipeline.hook.failure", failure.message);
      return failure;
    });
  }

  private async postOnce(delivery: Delivery, signal?: AbortSignal): Promise<{ message: string; retryable: boolean; denied?: boolean } | undefined> {
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.inFlight.add(controller);
    try {
      const { fetch, agent } = await this.client();
      const res = await fetch(delivery.hook.url, {
        method: "POST",
        headers: {
          ...delivery.hook.headers,
          "content-type": "application/json",
          "user-agent": "openloop-pipeline-webhook",
          "openloop-event": delivery.payload.event,
          // The same id on every try of one delivery, so a receiver can drop duplicates.
          "openloop-delivery": delivery.id,
        },
        body: delivery.body,
        signal: controller.signal,
        // A redirect is an answer, not followed: it could lead anywhere.
        redirect: "manual",
        dispatcher: agent,
      });
      await res.body?.cancel();
      if (res.ok) return undefined;
      // Other 4xx answers will not change on a retry; 408 and 429 may.
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      return { message: `${redactUrl(delivery.hook.url)} answered HTTP ${res.status}`, retryable };
    } catch (err) {
      const denied = deniedCause(err);
      if (denied) return { message: `${redactUrl(delivery.hook.url)} is refused: ${denied.message}`, retryable: false, denied: true };
      const why = controller.signal.aborted && !signal?.aborted ? `no answer within ${this.settings.timeoutMs} ms` : ((err as Error).cause as Error)?.message ?? (err as Error).message;
      return { message: `${redactUrl(delivery.hook.url)} could not be reached: ${why}`, retryable: true };
    } finally {
      clearTimeout(timeout);
      signal?.removeEventListener("abort", onAbort);
      this.inFlight.delete(controller);
    }
  }
}

function deniedCause(err: unknown): HookAddressDeniedError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof HookAddressDeniedError) return e;
  return undefined;
}

/** A hook URL for logs and errors: query strings often carry tokens. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
