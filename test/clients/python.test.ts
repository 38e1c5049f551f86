// The Python client package (clients/python) as a user installs it: `pip install <path>` into a
// fresh venv (grpcio and protobuf from PyPI, through pip's cache), then a script against a real server.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { ROOT, run } from "../support/tools.js";

const KEY = "python-client-test-key-0123456789";
const SET = "python_client";
const SCRIPT = path.join(ROOT, "test/clients/python_client.py");
const FIXTURES = path.join(ROOT, "test/support/fixtures");
const TLS = { certFile: path.join(FIXTURES, "tls-cert.pem"), keyFile: path.join(FIXTURES, "tls-key.pem") };
// The type checker and the stubs of the package's dependencies, at fixed versions.
const MYPY = ["mypy==2.4.1", "types-protobuf==7.35.1.20260906", "types-grpcio==1.85.0.20261028"];

describe("the Python client (clients/python)", () => {
  let s: TestServer;
  let secure: TestServer;
  let tmp: string;
  let python: string;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY] } });
    secure = await startTestServer({ server: { apiKeys: [KEY], tls: TLS } });
    tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-python-client-"));
    const venv = path.join(tmp, "venv");
    const made = await run("python3", ["-m", "venv", venv]);
    expect(made.code, made.stderr).toBe(0);
    python = path.join(venv, "bin", "python");
    const installed = await run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", path.join(ROOT, "clients/python")], {
      timeoutMs: 300_000,
    });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
  }, 320_000);
  afterAll(async () => {
    await s?.close();
    await secure?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("installs with pip into a fresh venv and calls the server", async () => {
    // Run from the temp dir, so that the package can only come from the venv.
    const r = await run(python, [SCRIPT, `127.0.0.1:${s.port}`, KEY, SET, `localhost:${secure.port}`, TLS.certFile], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out.module).toContain(path.join(tmp, "venv", "lib"));
    // Type stubs ship with the stubs, and the package says it is typed (PEP 561).
    expect(out.typed).toEqual(expect.arrayContaining(["llm/v1/llm_service_pb2.pyi", "feature/v1/feature_value_pb2.pyi", "py.typed"]));
    expect(out).toMatchObject({ age: 42, pipelines: "OK", missing_model: "NOT_FOUND", wrong_key: "UNAUTHENTICATED", tls: "OK" });
    expect(out.feature_sets).toContain(SET);
    expect(out.llm_models).toBeGreaterThan(0);
  });

  it("type-checks a program and the installed package with mypy --strict", async () => {
    const installed = await run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", ...MYPY], { timeoutMs: 300_000 });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    // The installed package itself (the dial helper and every stub), then a program using it.
    for (const target of [["-p", "openloop"], [SCRIPT]]) {
      const checked = await run(python, ["-m", "mypy", "--strict", "--no-incremental", ...target], { cwd: tmp, timeoutMs: 300_000 });
      expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    }
    // And a wrong call fails it: the stubs type the requests, not just declare the names.
    const wrong = path.join(tmp, "wrong.py");
    await writeFile(
      wrong,
      'import openloop\nfrom openloop.feature.v1 import feature_service_pb2\n\nclient = openloop.dial("127.0.0.1:1", insecure=True)\nclient.feature.ListFeatureSets(feature_service_pb2.GetFeatureSetRequest(name="x"))\n',
    );
    const failed = await run(python, ["-m", "mypy", "--strict", "--no-incremental", wrong], { cwd: tmp, timeoutMs: 300_000 });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('"GetFeatureSetRequest"');
  }, 620_000);
});
