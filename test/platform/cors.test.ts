import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

const ORIGIN = "https://console.example.com";

describe("CORS", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { corsOrigins: [ORIGIN] } });
  });
  afterAll(() => s?.close());

  const preflight = (origin: string) =>
    fetch(`${s.baseUrl}/openloop.feature.v1.FeatureService/ListFeatureSets`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version,authorization",
      },
    });

  it("answers a preflight from an allowed origin with the Connect and gRPC-Web headers plus authorization", async () => {
    const res = await preflight(ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["content-type", "connect-protocol-version", "authorization", "x-grpc-web", "grpc-timeout"]) expect(allowed).toContain(h);
  });

  it("refuses a preflight from another origin", async () => {
    const res = await preflight("https://evil.example.net");
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("marks a Connect response to an allowed origin as readable, exposing the status headers", async () => {
    const res = await fetch(`${s.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect((res.headers.get("access-control-expose-headers") ?? "").toLowerCase()).toContain("grpc-status");
  });

  it("marks a gRPC-Web response to an allowed origin as readable", async () => {
    const res = await fetch(`${s.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: new Uint8Array(5), // one empty message frame
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
  });

  it("leaves responses to other origins without CORS headers", async () => {
    const res = await fetch(`${s.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { origin: "https://evil.example.net", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("does not get in the way of non-browser clients", async () => {
    expect((await createClient(Health, s.grpc).check({})).status).toBe(1);
  });
});
