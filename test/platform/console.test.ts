// The web console's static files, served on the RPC port.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";

/** GET with the path sent exactly as given (fetch would normalize away the dot segments). */
function rawGet(port: number, rawPath: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: rawPath, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("web console files", () => {
  let tmp: string;
  let s: TestServer;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-console-"));
    const dist = path.join(tmp, "dist");
    await mkdir(path.join(dist, "assets"), { recursive: true });
    await writeFile(path.join(dist, "index.html"), "<!doctype html><title>openloop console</title>");
    await writeFile(path.join(dist, "assets", "app.js"), "console.log('console');");
    await writeFile(path.join(tmp, "secret.txt"), "do not serve");
    await symlink(path.join(tmp, "secret.txt"), path.join(dist, "link.txt"));
    s = await startTestServer({ server: { consoleDir: dist } });
  });
  afterAll(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it("serves index.html at /", async () => {
    const res = await rawGet(s.port, "/");
    expect(res.status).toBe(200);
    expect(res.type).toContain("text/html");
    expect(res.body).toContain("openloop console");
  });

  it("serves assets with their content type", async () => {
    const res = await rawGet(s.port, "/assets/app.js");
    expect(res.status).toBe(200);
    expect(res.type).toContain("text/javascript");
    expect(res.body).toBe("console.log('console');");
  });

  it("serves index.html for client-side routes", async () => {
    const res = await rawGet(s.port, "/pipelines/summarize");
    expect(res.status).toBe(200);
    expect(res.body).toContain("openloop console");
  });

  it("answers 404 for a missing file", async () => {
    expect((await rawGet(s.port, "/assets/missing.js")).status).toBe(404);
  });

  it.each(["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/..%5csecret.txt", "/link.txt"])(
    "never serves a file outside the console directory (%s)",
    async (p) => {
      const res = await rawGet(s.port, p);
      expect(res.body).not.toContain("do not serve");
      expect(res.status).toBe(404);
    },
  );

  it("does not shadow RPCs", async () => {
    const res = await fetch(`${s.baseUrl}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(await res.json()).toEqual({ status: "SERVING" });
  });
});

describe("without a console directory", () => {
  it("answers 404 at /", async () => {
    const s = await startTestServer({ server: { consoleDir: "/nonexistent/openloop-console" } });
    try {
      expect((await rawGet(s.port, "/")).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});
