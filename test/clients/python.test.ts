// The Python client package (clients/python) as a user installs it: `pip install <path>` into a
// fresh venv (grpcio and protobuf from PyPI, through pip's cache), then a script against a real server.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { ROOT, run } from "../support/tools.js";

const KEY = "python-client-test-key-0123456789";
const SET = "python_client";

describe("the Python client (clients/python)", () => {
  let s: TestServer;
  let tmp: string;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: [KEY] } });
    tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-python-client-"));
  });
  afterAll(async () => {
    await s?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("installs with pip into a fresh venv and calls the server", async () => {
    const venv = path.join(tmp, "venv");
    const made = await run("python3", ["-m", "venv", venv]);
    expect(made.code, made.stderr).toBe(0);
    const python = path.join(venv, "bin", "python");
    const installed = await run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", path.join(ROOT, "clients/python")], {
      timeoutMs: 300_000,
    });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);

    // Run from the temp dir, so that the package can only come from the venv.
    const r = await run(python, [path.join(ROOT, "test/clients/python_client.py"), `127.0.0.1:${s.port}`, KEY, SET], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out.module).toContain(path.join(venv, "lib"));
    // Type stubs ship with the stubs, and the package says it is typed (PEP 561).
    expect(out.typed).toEqual(expect.arrayContaining(["llm/v1/llm_service_pb2.pyi", "feature/v1/feature_value_pb2.pyi", "py.typed"]));
    expect(out).toMatchObject({ age: 42, pipelines: "OK", missing_model: "NOT_FOUND", wrong_key: "UNAUTHENTICATED" });
    expect(out.feature_sets).toContain(SET);
    expect(out.llm_models).toBeGreaterThan(0);
  }, 320_000);
});
