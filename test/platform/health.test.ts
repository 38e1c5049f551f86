import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { spawnServer } from "../support/spawn.js";
import { createGrpcTransport } from "@connectrpc/connect-node";

describe("grpc.health.v1.Health", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.close());

  it("reports the whole server as SERVING over gRPC", async () => {
    const res = await createClient(Health, s.grpc).check({ service: "" });
    expect(res.status).toBe(Status.SERVING);
  });

  it("reports SERVING over Connect on HTTP/1.1", async () => {
    const res = await createClient(Health, s.connect).check({ service: "" });
    expect(res.status).toBe(Status.SERVING);
  });

  it("works from a spawned process", async () => {
    const p = await spawnServer();
    const res = await createClient(Health, createGrpcTransport({ baseUrl: p.baseUrl })).check({ service: "" });
    expect(res.status).toBe(Status.SERVING);
    expect(await p.stop()).toBe(0);
  });
});
