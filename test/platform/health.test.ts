import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

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

  it("reports each service a module serves by its full name", async () => {
    const res = await createClient(Health, s.grpc).check({ service: "openloop.feature.v1.FeatureService" });
    expect(res.status).toBe(Status.SERVING);
  });

  it("answers NOT_FOUND for a service it does not know", async () => {
    const err = await createClient(Health, s.grpc).check({ service: "no.such.Service" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });

  it("watches an unknown service with SERVICE_UNKNOWN and keeps the stream open until the client leaves", async () => {
    const abort = new AbortController();
    const stream = createClient(Health, s.grpc).watch({ service: "no.such.Service" }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(Status.SERVICE_UNKNOWN);
    const next = stream.next();
    abort.abort();
    expect(ConnectError.from(await next.catch((e: unknown) => e)).code).toBe(Code.Canceled);
  });
});
