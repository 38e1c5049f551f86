import http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

function getOverHttp2(baseUrl: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.on("error", reject);
    const req = session.request({ ":path": path, ":method": "GET" });
    let body = "";
    let status = 0;
    let type = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      type = String(h["content-type"]);
    });
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      session.close();
      resolve({ status, type, body });
    });
    req.on("error", reject);
  });
}

describe("GET /metrics", () => {
  let s: TestServer;
  beforeAll(async () => {
    // The server-side default deadline ends the Watch below; the server records a call
    // before it sends the final status, so the count is there when the client sees the end.
    // metrics.public: this file reads the series; who may read them is test/platform/metrics-exposure.test.ts.
    s = await startTestServer({ server: { apiKeys: ["metrics-key-0123456789"], defaultDeadlineMs: 150 }, metrics: { public: true } });
    const health = createClient(Health, s.grpc);
    await health.check({});
    await health.check({});
    await health.check({ service: "no.such.Service" }).catch(() => {});
    // A stream, ended by its deadline.
    const watch = (async () => {
      for await (const _ of health.watch({})) {
        // SERVING, then nothing until the deadline
      }
    })();
    expect(ConnectError.from(await watch.catch((e: unknown) => e)).code).toBe(Code.DeadlineExceeded);
    const err = await createClient(FeatureService, s.connect).listFeatureSets({}).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
  });
  afterAll(() => s?.close());

  it("counts finished RPCs by service, method and status code", async () => {
    const res = await fetch(`${s.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain('openloop_rpc_requests_total{service="grpc.health.v1.Health",method="Check",code="OK"} 2');
    expect(text).toContain('openloop_rpc_requests_total{service="grpc.health.v1.Health",method="Check",code="NOT_FOUND"} 1');
    expect(text).toContain('openloop_rpc_requests_total{service="openloop.feature.v1.FeatureService",method="ListFeatureSets",code="UNAUTHENTICATED"} 1');
  });

  it("counts a server stream when it ends, with its final status", async () => {
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(text).toContain('openloop_rpc_requests_total{service="grpc.health.v1.Health",method="Watch",code="DEADLINE_EXCEEDED"} 1');
  });

  it("reports the RPCs in flight", async () => {
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^openloop_rpc_in_flight 0$/m);
  });

  it("has a latency histogram per RPC", async () => {
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(text).toContain('openloop_rpc_duration_seconds_count{service="grpc.health.v1.Health",method="Check"} 3');
    expect(text).toMatch(/openloop_rpc_duration_seconds_bucket\{le="0\.005",service="grpc\.health\.v1\.Health",method="Check"\} \d+/);
  });

  it("includes the default process metrics", async () => {
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  it("is served over HTTP/2 as well", async () => {
    const res = await getOverHttp2(s.baseUrl, "/metrics");
    expect(res.status).toBe(200);
    expect(res.body).toContain("openloop_rpc_requests_total");
  });
});
