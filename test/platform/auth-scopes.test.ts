// Scoped API keys over real connections: grpc-js (served by the gRPC server), Connect and
// gRPC-Web (served by connect-node) must admit and refuse the same calls the same way.
import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { bearer } from "../support/bearer.js";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { parseConfig } from "../../src/config.js";
import { startServer } from "../../src/server.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "../support/grpc-js-transport.js";
import { startTestServer, type TestServer } from "../support/server.js";

const ADMIN = "plain-admin-key-0123456789";
const READER = "reader-secret-abcdefghijkl";
const WRITER = "writer-secret-mnopqrstuvwx";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

async function codeOf(p: Promise<unknown>): Promise<Code | "OK"> {
  try {
    await p;
    return "OK";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("scoped API keys", () => {
  let s: TestServer;
  const grpcJs: GrpcJsTransport[] = [];
  beforeAll(async () => {
    s = await startTestServer({
      server: {
        apiKeys: [
          ADMIN,
          { name: "reader", key: `sha256:${sha256(READER)}`, scopes: ["features:read"] },
          { name: "writer", key: WRITER, scopes: ["features:read", "features:write"] },
        ],
      },
    });
  });
  afterAll(async () => {
    for (const t of grpcJs) t.close();
    await s?.close();
  });

  const transports: Record<string, (key: string) => Transport> = {
    "grpc-js": (key) => {
      const t = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: key });
      grpcJs.push(t);
      return t;
    },
    Connect: (key) => createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
    "gRPC-Web": (key) => createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  };

  describe.each(Object.keys(transports))("over %s", (name) => {
    const features = (key: string) => createClient(FeatureService, transports[name](key));

    it("admits a call within the key's scopes, with the key stored as a sha256 hash", async () => {
      expect(await codeOf(features(READER).listFeatureSets({}))).toBe("OK");
    });

    it("answers PERMISSION_DENIED outside the key's scopes, naming the scope needed and not the key", async () => {
      const err = ConnectError.from(await features(READER).deleteFeatureSet({ name: "missing" }).catch((e: unknown) => e));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.rawMessage).toBe("API key 'reader' lacks scope 'features:write'");
      expect(err.rawMessage).not.toContain(READER);
    });

    it("admits a write with the write scope (the call then runs: NOT_FOUND)", async () => {
      expect(await codeOf(features(WRITER).deleteFeatureSet({ name: "missing" }))).toBe(Code.NotFound);
    });

    it("treats a plain key from the old list form as admin", async () => {
      expect(await codeOf(features(ADMIN).deleteFeatureSet({ name: "missing" }))).toBe(Code.NotFound);
    });

    it("answers UNAUTHENTICATED for a key that is not configured, and for the hash itself", async () => {
      expect(await codeOf(features("not-a-configured-key-123").listFeatureSets({}))).toBe(Code.Unauthenticated);
      expect(await codeOf(features(`sha256:${sha256(READER)}`).listFeatureSets({}))).toBe(Code.Unauthenticated);
    });

    it("keeps health open without a key", async () => {
      const res = await createClient(Health, transports[name]("")).check({ service: "" });
      expect(res.status).toBe(Status.SERVING);
    });
  });

  it("counts admitted calls and refusals by key name (and reason), never by the key", async () => {
    await codeOf(createClient(FeatureService, s.grpc).listFeatureSets({}));
    const text = await (await fetch(`${s.baseUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(text).toContain('openloop_auth_denied_total{key="reader",reason="scope"} 3');
    expect(text).toContain('openloop_auth_denied_total{key="(none)",reason="invalid"} 6');
    expect(text).toContain('openloop_auth_denied_total{key="(none)",reason="missing"}');
    expect(text).toContain('openloop_auth_admitted_total{key="reader"} 3');
    expect(text).toContain('openloop_auth_admitted_total{key="writer"} 3');
    for (const secret of [ADMIN, READER, WRITER, sha256(READER)]) expect(text).not.toContain(secret);
  });

  describe("GET /auth/whoami", () => {
    it("answers the caller's key name and scopes", async () => {
      const res = await fetch(`${s.baseUrl}/auth/whoami`, { headers: { authorization: `Bearer ${WRITER}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ authRequired: true, key: "writer", scopes: ["features:read", "features:write"], limits: {} });
    });

    it("calls a plain key key-<position>, with scope admin", async () => {
      const res = await fetch(`${s.baseUrl}/auth/whoami`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(await res.json()).toMatchObject({ key: "key-1", scopes: ["admin"] });
    });

    it("answers 401 in Connect's error form without a valid key", async () => {
      const res = await fetch(`${s.baseUrl}/auth/whoami`, { headers: { authorization: "Bearer wrong-key-0123456789" } });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      expect(await res.json()).toEqual({ code: "unauthenticated", message: "invalid API key" });
    });
  });
});

describe("GET /auth/whoami on a server without keys", () => {
  it("says that no key is needed and every scope is open", async () => {
    const s = await startTestServer({});
    try {
      const res = await fetch(`${s.baseUrl}/auth/whoami`);
      expect(await res.json()).toEqual({ authRequired: false, key: null, scopes: ["admin"], limits: {} });
    } finally {
      await s.close();
    }
  });
});

describe("logs", () => {
  it("name the key of refused and limited calls, and never hold a key", async () => {
    const lines: string[] = [];
    const s = await startServer(
      parseConfig({
        server: { port: 0, apiKeys: [{ name: "logged", key: READER, scopes: ["features:read"], limits: { requestsPerSecond: 0.001, burst: 1 } }] },
        dataDir: await mkdtemp(path.join(os.tmpdir(), "openloop-auth-logs-")),
      }),
      { log: pino({ level: "debug" }, { write: (l: string) => void lines.push(l) }) },
    );
    const grpc = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: READER });
    const wrong = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: "not-a-configured-key-123" });
    try {
      const features = createClient(FeatureService, grpc);
      expect(await codeOf(features.deleteFeatureSet({ name: "x" }))).toBe(Code.PermissionDenied);
      expect(await codeOf(features.listFeatureSets({}))).toBe("OK");
      expect(await codeOf(features.listFeatureSets({}))).toBe(Code.ResourceExhausted);
      expect(await codeOf(createClient(FeatureService, wrong).listFeatureSets({}))).toBe(Code.Unauthenticated);
    } finally {
      grpc.close();
      wrong.close();
      await s.close();
    }
    const records = lines.map((l) => JSON.parse(l) as { msg: string; key?: string; code?: string; err?: string });
    expect(records.find((r) => r.msg === "call outside the key's scopes")).toMatchObject({ key: "logged", scope: "features:write" });
    expect(records.find((r) => r.code === "RESOURCE_EXHAUSTED")?.err).toContain("API key 'logged' is over its rate");
    const all = lines.join("\n");
    expect(all).not.toContain(READER);
    expect(all).not.toContain("not-a-configured-key-123");
  });
});
