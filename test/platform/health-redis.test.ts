// Health tells the truth about Redis: FeatureService and FeedbackService turn NOT_SERVING while
// their Redis is unreachable (killed, or frozen and silent) and SERVING again when it returns;
// the server's own status ("") follows, and Watch streams every change. Read through a grpc-js
// client, as Kubernetes probes and grpc-health-probe read it.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { startRedis, type RedisProcess } from "../support/redis.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { findTool, run } from "../support/tools.js";

/** grpc-health-probe, as Kubernetes users run it (scripts/test.sh installs it). */
function healthProbeTool(): string {
  return findTool("grpc-health-probe", "go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.63");
}

const FEATURE = "openloop.feature.v1.FeatureService";
const FEEDBACK = "openloop.feedback.v1.FeedbackService";
const REGISTRY = "openloop.registry.v1.RegistryService";
const LLM = "openloop.llm.v1.LLMService";
// Each service's Redis on its own ("<service>/redis"); the LLM service serves without it (limits per replica).
const REDIS_ENTRIES = [`${FEATURE}/redis`, `${FEEDBACK}/redis`, `${LLM}/redis`];

describe("health while Redis comes and goes", () => {
  let redis: RedisProcess;
  let server: TestServer;
  let transport: GrpcJsTransport;
  let health: Client<typeof Health>;

  beforeAll(async () => {
    redis = await startRedis();
    server = await startTestServer({ redis: { url: redis.url }, feature: { redis: { commandTimeoutMs: 300 } }, llm: { providers: {}, models: [] } });
    transport = createGrpcJsTransport(`127.0.0.1:${server.port}`);
    health = createClient(Health, transport);
  });
  afterAll(async () => {
    redis?.resume();
    transport?.close();
    await server?.close();
    await redis?.stop();
  });

  const status = async (service: string) => (await health.check({ service })).status;

  /** Waits (up to 10 s) until `service` reports `want`. */
  async function until(service: string, want: Status): Promise<void> {
    const deadline = Date.now() + 10_000;
    let got = await status(service);
    while (got !== want) {
      if (Date.now() > deadline) throw new Error(`${service || "the server"} is ${Status[got]}, expected ${Status[want]}`);
      await new Promise((r) => setTimeout(r, 50));
      got = await status(service);
    }
  }

  /** Collects what a Watch of `service` streams until `stop` aborts. */
  function watch(service: string, stop: AbortSignal): { seen: Status[]; done: Promise<unknown> } {
    const seen: Status[] = [];
    const done = (async () => {
      for await (const res of health.watch({ service }, { signal: stop })) seen.push(res.status);
    })().catch((e: unknown) => expect(ConnectError.from(e).code).toBe(Code.Canceled));
    return { seen, done };
  }

  const collapse = (statuses: Status[]) => statuses.filter((s, i) => i === 0 || s !== statuses[i - 1]);

  it("reports FeatureService, FeedbackService and the server NOT_SERVING while Redis is down, and SERVING when it is back", async () => {
    for (const svc of ["", FEATURE, FEEDBACK]) await until(svc, Status.SERVING);
    const stop = new AbortController();
    const watches = ["", FEATURE, FEEDBACK].map((svc) => watch(svc, stop.signal));
    await new Promise((r) => setTimeout(r, 100)); // every Watch has sent its first status

    await redis.stop();
    for (const svc of ["", FEATURE, FEEDBACK, ...REDIS_ENTRIES]) await until(svc, Status.NOT_SERVING);
    // A service that needs no Redis keeps serving.
    expect(await status(REGISTRY)).toBe(Status.SERVING);
    expect(await status(LLM)).toBe(Status.SERVING);
    const probe = healthProbeTool();
    const probeExit = async (service: string) => (await run(probe, [`-addr=127.0.0.1:${server.port}`, `-service=${service}`])).code;
    // grpc-health-probe exits 4 for NOT_SERVING.
    expect(await probeExit(FEATURE)).toBe(4);

    await redis.start();
    for (const svc of ["", FEATURE, FEEDBACK, ...REDIS_ENTRIES]) await until(svc, Status.SERVING);
    expect(await probeExit(FEATURE)).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    for (const w of watches) {
      await w.done;
      expect(collapse(w.seen)).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
    }
  });

  it("reports FeatureService NOT_SERVING while Redis is frozen and silent, and SERVING once it answers again", async () => {
    await until(FEATURE, Status.SERVING);
    redis.pause();
    try {
      await until(FEATURE, Status.NOT_SERVING);
      expect(await status("")).toBe(Status.NOT_SERVING);
    } finally {
      redis.resume();
    }
    await until(FEATURE, Status.SERVING);
    await until("", Status.SERVING);
  });
});
