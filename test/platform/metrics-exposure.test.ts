// Who may read /metrics: open without keys, a key with metrics:read (or admin) once keys are
// configured unless metrics.public, or only on a listener of its own (metrics.listen).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startTestServer, type TestServer } from "../support/server.js";

const SCRAPER = "scraper-key-0123456789";
const READER = "reader-key-0123456789";
const ADMIN = "admin-key-0123456789";
const KEYS = [
  ADMIN,
  { name: "prometheus", key: SCRAPER, scopes: ["metrics:read" as const] },
  { name: "reader", key: READER, scopes: ["features:read" as const] },
];

const scrape = (url: string, key?: string) => fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});

describe("/metrics on the main port with keys configured", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: KEYS } });
  });
  afterAll(() => s?.close());

  it("answers 401 without a key", async () => {
    const res = await scrape(`${s.baseUrl}/metrics`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "unauthenticated" });
  });

  it("answers 403 to a key without metrics:read", async () => {
    const res = await scrape(`${s.baseUrl}/metrics`, READER);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: "permission_denied", message: "API key 'reader' lacks scope 'metrics:read'" });
  });

  it("serves a key with metrics:read, and an admin key", async () => {
    for (const key of [SCRAPER, ADMIN]) {
      const res = await scrape(`${s.baseUrl}/metrics`, key);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("openloop_auth_denied_total");
    }
  });
});

describe("/metrics with metrics.public", () => {
  it("is served without a key although keys are configured", async () => {
    const s = await startTestServer({ server: { apiKeys: KEYS }, metrics: { public: true } });
    try {
      expect((await scrape(`${s.baseUrl}/metrics`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe("/metrics without keys", () => {
  it("is open, as the embedded start has always had it", async () => {
    const s = await startTestServer({});
    try {
      expect((await scrape(`${s.baseUrl}/metrics`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe("/metrics on its own listener (metrics.listen)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: KEYS }, metrics: { listen: "127.0.0.1:0" } });
  });
  afterAll(() => s?.close());

  it("is served there without a key", async () => {
    expect(s.server.metricsPort).toBeGreaterThan(0);
    const res = await scrape(`http://127.0.0.1:${s.server.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("openloop_rpc_in_flight");
  });

  it("serves nothing else there", async () => {
    expect((await scrape(`http://127.0.0.1:${s.server.metricsPort}/auth/whoami`)).status).toBe(404);
  });

  it("is gone from the main port, even with a key (and not answered by the console's page)", async () => {
    const res = await scrape(`${s.baseUrl}/metrics`, ADMIN);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe("metrics are served on 127.0.0.1:0 (metrics.listen)\n");
  });

  it("stops when the server closes", async () => {
    const other = await startTestServer({ metrics: { listen: "127.0.0.1:0" } });
    const url = `http://127.0.0.1:${other.server.metricsPort}/metrics`;
    expect((await scrape(url)).status).toBe(200);
    await other.close();
    await expect(scrape(url)).rejects.toThrow();
  });
});

describe("configuration from the environment", () => {
  it("reads OPENLOOP_METRICS_LISTEN, OPENLOOP_METRICS_PUBLIC and named keys as JSON in OPENLOOP_API_KEYS", () => {
    const config = loadConfig(
      {
        OPENLOOP_METRICS_LISTEN: "127.0.0.1:9464",
        OPENLOOP_METRICS_PUBLIC: "true",
        OPENLOOP_API_KEYS: JSON.stringify([{ name: "ci", key: `sha256:${"ab".repeat(32)}`, scopes: ["registry:write"], limits: { requestsPerSecond: 5 } }]),
      },
      "/nonexistent",
    );
    expect(config.metrics).toEqual({ listen: "127.0.0.1:9464", public: true });
    expect(config.server.apiKeys).toEqual([{ name: "ci", key: `sha256:${"ab".repeat(32)}`, scopes: ["registry:write"], limits: { requestsPerSecond: 5 } }]);
  });

  it("names the setting for a bad hash, an unknown scope, a reused name and broken JSON", () => {
    const errorOf = (env: Record<string, string>) => {
      try {
        loadConfig(env, "/nonexistent");
      } catch (err) {
        return (err as Error).message;
      }
      return "no error";
    };
    const key = (extra: object) => JSON.stringify([{ name: "a", key: "long-enough-key-1", scopes: ["admin"], ...extra }]);
    expect(errorOf({ OPENLOOP_API_KEYS: key({ key: "sha256:abc" }) })).toContain("server.apiKeys.0.key: a hashed key is 'sha256:' and 64 hex digits");
    expect(errorOf({ OPENLOOP_API_KEYS: key({ scopes: ["llm:everything"] }) })).toContain("server.apiKeys.0.scopes.0: unknown scope 'llm:everything'");
    expect(errorOf({ OPENLOOP_API_KEYS: JSON.stringify(["plain-key-0123456789", { name: "key-1", key: "other-key-0123456789", scopes: ["admin"] }]) })).toContain(
      "server.apiKeys.1.name: key name 'key-1' is used twice",
    );
    expect(errorOf({ OPENLOOP_API_KEYS: "[not json" })).toContain("OPENLOOP_API_KEYS looks like JSON");
    expect(errorOf({ OPENLOOP_METRICS_LISTEN: "9464" })).toContain("metrics.listen");
  });
});
