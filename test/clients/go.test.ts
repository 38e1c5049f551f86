// The Go client package (clients/go) as a Go user runs it: `go test` of its own tests,
// pointed at a real server with API keys on.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { ROOT, run } from "../support/tools.js";

const KEY = "go-client-test-key-0123456789";
const FIXTURES = path.join(ROOT, "test/support/fixtures");
const TLS = { certFile: path.join(FIXTURES, "tls-cert.pem"), keyFile: path.join(FIXTURES, "tls-key.pem") };
const TESTS = [
  "TestFeatureSetRoundTrip",
  "TestOtherServices",
  "TestHealthNeedsNoKey",
  "TestWrongKeyIsUnauthenticated",
  "TestTLSIsTheDefault",
  "TestTLSWithAPIKey",
];

describe("the Go client (clients/go)", () => {
  let s: TestServer;
  let secure: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY] } });
    secure = await startTestServer({ server: { apiKeys: [KEY], tls: TLS } });
  });
  afterAll(async () => {
    await s?.close();
    await secure?.close();
  });

  it("passes go vet", async () => {
    // Modules first: on a machine that has not fetched them yet, `go vet` would report each download.
    const download = await run("go", ["mod", "download"], { cwd: path.join(ROOT, "clients/go"), timeoutMs: 600_000 });
    expect(download.code, download.stderr).toBe(0);
    const r = await run("go", ["vet", "./..."], { cwd: path.join(ROOT, "clients/go"), timeoutMs: 600_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 620_000);

  it("passes its go test against the server", async () => {
    const r = await run("go", ["test", "-count=1", "-v", "./..."], {
      cwd: path.join(ROOT, "clients/go"),
      env: {
        ...process.env,
        OPENLOOP_TEST_TARGET: `127.0.0.1:${s.port}`,
        OPENLOOP_TEST_TLS_TARGET: `localhost:${secure.port}`,
        OPENLOOP_TEST_TLS_CA: TLS.certFile,
        OPENLOOP_TEST_API_KEY: KEY,
      },
      timeoutMs: 600_000,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Each test ran against the server: none skipped for want of the address.
    for (const name of TESTS) expect(r.stdout, r.stdout).toContain(`--- PASS: ${name} `);
    expect(r.stdout).not.toContain("--- SKIP");
  }, 620_000);
});
