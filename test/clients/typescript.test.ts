// The TypeScript client package (clients/typescript) as a user gets it: `npm pack`, the tarball
// installed into a temp project (from the npm cache), a program type-checked against the installed
// types and run by Node against a real server, once per transport.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { ROOT, run } from "../support/tools.js";

const KEY = "typescript-client-test-key-0123456789";
const PACKAGE = path.join(ROOT, "clients/typescript");
const FIXTURES = path.join(ROOT, "test/support/fixtures");
const TLS = { certFile: path.join(FIXTURES, "tls-cert.pem"), keyFile: path.join(FIXTURES, "tls-key.pem") };

describe("the TypeScript client (clients/typescript), packed and installed", () => {
  let s: TestServer;
  let secure: TestServer;
  let tmp: string;
  let project: string;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY] } });
    secure = await startTestServer({ server: { apiKeys: [KEY], tls: TLS } });
    tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-ts-client-"));
    // npm (and the tsc its prepack runs) from the Node that runs the tests.
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: PACKAGE, env, timeoutMs: 300_000 });
    expect(packed.code, packed.stdout + packed.stderr).toBe(0);
    const tarball = (await readdir(tmp)).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();

    project = path.join(tmp, "project");
    await cp(path.join(PACKAGE, "example"), project, { recursive: true });
    await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const installed = await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", path.join(tmp, tarball!), "@types/node@24.19.2"],
      { cwd: project, env, timeoutMs: 300_000 },
    );
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
  }, 620_000);
  afterAll(async () => {
    await s?.close();
    await secure?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("depends on exactly the versions the server itself uses", async () => {
    type Manifest = { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const read = async (dir: string) => JSON.parse(await readFile(path.join(dir, "package.json"), "utf8")) as Manifest;
    const [pkg, root] = await Promise.all([read(PACKAGE), read(ROOT)]);
    const rootVersions = { ...root.dependencies, ...root.devDependencies };
    const wanted = { ...pkg.dependencies, ...pkg.devDependencies };
    expect(Object.keys(wanted).length).toBeGreaterThan(0);
    for (const [name, version] of Object.entries(wanted)) expect(`${name}@${version}`).toBe(`${name}@${rootVersions[name]}`);
  });

  it("holds the compiled code and the generated code, not the sources", async () => {
    const files = await readdir(path.join(project, "node_modules/@openloop/client"), { recursive: true });
    expect(files).toContain(path.join("dist", "node.js"));
    expect(files).toContain(path.join("dist", "browser.d.ts"));
    expect(files).toContain(path.join("dist", "gen", "openloop", "llm", "v1", "llm_service_pb.js"));
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("type-checks a program against the installed package", async () => {
    const r = await run(path.join(ROOT, "node_modules/.bin/tsc"), ["-p", project], { timeoutMs: 180_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 200_000);

  const expected = (transport: string) => ({
    age: "42",
    downloaded: `weights for ${transport}`,
    serving: true,
    llmModels: expect.any(Number) as number,
    missing: "NotFound",
    wrongKey: "Unauthenticated",
  });

  for (const transport of ["grpc", "connect", "grpc-web"]) {
    it(`calls the server over ${transport}`, async () => {
      const r = await run(process.execPath, ["call.ts", s.baseUrl, KEY, transport], { cwd: project });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(expected(transport));
      expect((JSON.parse(r.stdout) as { llmModels: number }).llmModels).toBeGreaterThan(0);
    });

    it(`calls the server over ${transport} with TLS`, async () => {
      // A private CA, as Node users add one: NODE_EXTRA_CA_CERTS.
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: TLS.certFile };
      const r = await run(process.execPath, ["call.ts", `https://localhost:${secure.port}`, KEY, transport], { cwd: project, env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(expected(transport));
    });
  }
});
