// Artifacts by plain HTTP (src/registry/http-artifacts.ts): real HTTP clients (curl, fetch,
// node:http, an HTTP/2 session) against the server on a free port; what they register is read
// back over gRPC, and what gRPC registers they download.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrpcJsTransport } from "../support/grpc-js-transport.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { run } from "../support/tools.js";
import { readdir, readFile } from "node:fs/promises";
import { codeOf, download, registryClient, sha256, upload, type RegistryClient } from "./helpers.js";

const WRITER = "registry-writer-key-0123456789";
const READER = "registry-reader-key-0123456789";
const ADMIN = "registry-admin-key-0123456789";
const MAX_ARTIFACT = 4 * 1024 * 1024;

let s: TestServer;
let client: RegistryClient;
let closeGrpcJs: () => void;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "openloop-http-upload-"));
  s = await startTestServer({
    server: {
      apiKeys: [
        { name: "writer", key: WRITER, scopes: ["registry:read", "registry:write"] },
        { name: "reader", key: READER, scopes: ["registry:read"] },
        { name: "admin", key: ADMIN, scopes: ["admin"] },
      ],
    },
    registry: { maxArtifactBytes: MAX_ARTIFACT },
  });
  const t = createGrpcJsTransport(`127.0.0.1:${s.port}`, { apiKey: WRITER });
  client = registryClient(t);
  closeGrpcJs = () => t.close();
});

afterAll(async () => {
  closeGrpcJs?.();
  await s?.close();
  await rm(work, { recursive: true, force: true });
});

const url = (name: string, version: string, artifact: string) => `${s.baseUrl}/registry/v1/models/${name}/versions/${version}/artifacts/${artifact}`;
const digestHeader = (bytes: Uint8Array) => `sha-256=:${createHash("sha256").update(bytes).digest("base64")}:`;

function put(target: string, body: Uint8Array, headers: Record<string, string>): Promise<Response> {
  return fetch(target, { method: "PUT", body: Buffer.from(body), headers: { authorization: `Bearer ${WRITER}`, ...headers } });
}

describe("PUT /registry/v1/models/{name}/versions/{version}/artifacts/{artifact}", () => {
  it("registers a version from curl's upload of a file, as RegisterModelVersion would", async () => {
    // The largest artifact allowed here, 4 MiB: large enough to be hashed on the hash worker, both ways.
    const bytes = randomBytes(MAX_ARTIFACT);
    const file = path.join(work, "model.gguf");
    await writeFile(file, bytes);
    const out = path.join(work, "curl-out.txt");
    const r = await run("curl", [
      "-sS", "-D", "-", "-o", out, "-T", file,
      "-H", `authorization: Bearer ${WRITER}`,
      "-H", 'openloop-model-version: {"type": "gguf", "tags": ["from-curl"], "description": "put", "metadata": {"k": "v"}, "lineage": {"producer": "curl"}}',
      "-H", `content-digest: ${digestHeader(bytes)}`,
      url("put-curl", "1.2.0", "model.gguf"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 201/m);
    expect(r.stdout.toLowerCase()).toContain(`repr-digest: ${digestHeader(bytes).toLowerCase()}`);
    const mv = (await client.getModelVersion({ name: "put-curl", selector: { case: "version", value: "1.2.0" } })).modelVersion!;
    expect(mv).toMatchObject({ type: "gguf", tags: ["from-curl"], description: "put", metadata: { k: "v" }, lineage: { producer: "curl" } });
    expect(mv.artifacts).toEqual([expect.objectContaining({ name: "model.gguf", sizeBytes: BigInt(bytes.length), sha256: sha256(bytes) })]);
    const got = await download(client, { name: "put-curl" });
    expect(got.sha256).toBe(sha256(bytes));
  });

  it("answers the registered version in JSON, and an empty body is an empty artifact", async () => {
    const res = await put(url("put-fetch", "3", "empty.bin"), new Uint8Array(0), { "openloop-model-version": '{"type": "linear"}' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { modelVersion: { name: string; version: string; artifacts: { name: string; sizeBytes: string; sha256: string }[] } };
    // Proto3 JSON leaves the zero size out.
    expect(body.modelVersion).toMatchObject({ name: "put-fetch", version: "3", artifacts: [{ name: "empty.bin", sha256: sha256(new Uint8Array(0)) }] });
    expect(body.modelVersion.artifacts[0]!.sizeBytes ?? "0").toBe("0");
  });

  it("serves HTTP/2 clients too (a cleartext session that opens with the PUT)", async () => {
    const bytes = randomBytes(200_000);
    const session = http2.connect(s.baseUrl);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({
          ":method": "PUT",
          ":path": "/registry/v1/models/put-h2/versions/1/artifacts/w.bin",
          authorization: `Bearer ${WRITER}`,
          "openloop-model-version": '{"type": "linear"}',
          "repr-digest": digestHeader(bytes),
        });
        req.once("response", (h) => resolve(Number(h[":status"])));
        req.once("error", reject);
        req.resume();
        req.end(bytes);
      });
      expect(status).toBe(201);
    } finally {
      session.close();
    }
    expect((await download(client, { name: "put-h2" })).sha256).toBe(sha256(bytes));
  });

  it("refuses a wrong digest with DATA_LOSS and registers nothing", async () => {
    const bytes = randomBytes(100_000);
    const res = await put(url("put-bad", "1", "w.bin"), bytes, { "openloop-model-version": '{"type": "linear"}', "content-digest": digestHeader(randomBytes(8)) });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: "data_loss" });
    expect((await codeOf(client.getModelVersion({ name: "put-bad" }))).code).toBe(Code.NotFound);
  });

  it("answers a client's mistakes with the RPC's codes in Connect's JSON form", async () => {
    const bytes = Buffer.from("weights");
    const cases: [string, Record<string, string>, number, string][] = [
      [url("put-x", "1", "w.bin"), {}, 400, "invalid_argument"], // no version header
      [url("put-x", "1", "w.bin"), { "openloop-model-version": "{not json" }, 400, "invalid_argument"],
      [url("put-x", "1", "w.bin"), { "openloop-model-version": '{"type": "linear", "name": "other"}' }, 400, "invalid_argument"],
      [url("put-x", "1", "w.bin"), { "openloop-model-version": '{"type": "linear"}', "content-digest": "md5=:AAAA:" }, 400, "invalid_argument"],
      [url("put-x", "1", "w.bin"), { "openloop-model-version": '{"type": "linear"}', "content-encoding": "gzip" }, 400, "invalid_argument"],
      [url("bad%20name!", "1", "w.bin"), { "openloop-model-version": '{"type": "linear"}' }, 400, "invalid_argument"],
      [url("put-x", "1", "..%2Fescape"), { "openloop-model-version": '{"type": "linear"}' }, 400, "invalid_argument"],
      [url("put-x", "1", "%E0%A4%A"), { "openloop-model-version": '{"type": "linear"}' }, 400, "invalid_argument"],
      [url("put-x", "latest", "w.bin"), { "openloop-model-version": '{"type": "linear"}' }, 400, "invalid_argument"],
      [`${s.baseUrl}/registry/v1/models/put-x/w.bin`, { "openloop-model-version": '{"type": "linear"}' }, 404, "not_found"],
    ];
    for (const [target, headers, status, code] of cases) {
      const res = await put(target, bytes, headers);
      const body = (await res.json()) as { code: string; message: string };
      expect({ target, headers, status: res.status, code: body.code }).toEqual({ target, headers, status, code });
      expect(body.message.length).toBeLessThan(400);
    }
    expect((await codeOf(client.getModelVersion({ name: "put-x" }))).code).toBe(Code.NotFound);
  });

  it("keeps the registry's limits and rules: an artifact over maxArtifactBytes, a version that exists", async () => {
    const big = await put(url("put-big", "1", "w.bin"), randomBytes(MAX_ARTIFACT + 1), { "openloop-model-version": '{"type": "linear"}' });
    expect(big.status).toBe(429);
    expect(await big.json()).toMatchObject({ code: "resource_exhausted" });
    const ok = await put(url("put-twice", "1", "w.bin"), Buffer.from("a"), { "openloop-model-version": '{"type": "linear"}' });
    expect(ok.status).toBe(201);
    const again = await put(url("put-twice", "1", "w.bin"), Buffer.from("b"), { "openloop-model-version": '{"type": "linear"}' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "already_exists" });
  });

  it("needs a key with registry:write", async () => {
    const headers = { "openloop-model-version": '{"type": "linear"}' };
    const none = await fetch(url("put-auth", "1", "w.bin"), { method: "PUT", body: "x", headers });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: "unauthenticated" });
    const reader = await fetch(url("put-auth", "1", "w.bin"), { method: "PUT", body: "x", headers: { ...headers, authorization: `Bearer ${READER}` } });
    expect(reader.status).toBe(403);
    expect(await reader.json()).toMatchObject({ code: "permission_denied" });
    const del = await fetch(url("put-auth", "1", "w.bin"), { method: "DELETE", headers: { authorization: `Bearer ${WRITER}` } });
    expect(del.status).toBe(501);
    expect(await del.json()).toMatchObject({ code: "unimplemented" });
    expect((await codeOf(client.getModelVersion({ name: "put-auth" }))).code).toBe(Code.NotFound);
  });

  it("registers nothing when the client goes away mid-body, records the call as RegisterModelVersion, and keeps serving", async () => {
    const gone = await new Promise<void>((resolve) => {
      const req = http.request(url("put-cut", "1", "w.bin"), {
        method: "PUT",
        headers: { authorization: `Bearer ${WRITER}`, "openloop-model-version": '{"type": "linear"}', "content-length": String(1024 * 1024) },
      });
      req.once("error", () => resolve());
      req.write(randomBytes(100_000), () => setImmediate(() => req.destroy()));
      req.once("close", () => resolve());
    });
    expect(gone).toBeUndefined();
    // The server notices the cut connection on its own schedule: wait for the call's record.
    const metricsText = async () => (await fetch(`${s.baseUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    await expect.poll(metricsText, { timeout: 5000 }).toMatch(/openloop_rpc_requests_total\{service="openloop.registry.v1.RegistryService",method="RegisterModelVersion",code="CANCELED"\} [1-9]/);
    expect(await metricsText()).toMatch(/openloop_rpc_requests_total\{service="openloop.registry.v1.RegistryService",method="RegisterModelVersion",code="OK"\} [1-9]/);
    expect((await codeOf(client.getModelVersion({ name: "put-cut" }))).code).toBe(Code.NotFound);
    const after = await put(url("put-cut", "1", "w.bin"), Buffer.from("whole"), { "openloop-model-version": '{"type": "linear"}' });
    expect(after.status).toBe(201);
  });
});

describe("GET /registry/v1/models/{name}/{versions|aliases}/{ref}/artifacts/{artifact}", () => {
  const bytes = randomBytes(2 * 1024 * 1024 + 5);
  beforeAll(async () => {
    await upload(client, { name: "get-me", version: "1", type: "onnx" }, [{ name: "m.onnx", chunks: [Buffer.from("old")] }]);
    await upload(client, { name: "get-me", version: "2", type: "onnx" }, [{ name: "m.onnx", chunks: [bytes.subarray(0, 1 << 20), bytes.subarray(1 << 20)] }]);
    await client.setAlias({ name: "get-me", alias: "champion", version: "1" });
  });
  const get = (target: string, init: RequestInit = {}) => fetch(target, { ...init, headers: { authorization: `Bearer ${READER}`, ...init.headers } });
  const at = (by: string, ref: string) => `${s.baseUrl}/registry/v1/models/get-me/${by}/${ref}/artifacts/m.onnx`;

  it("sends what gRPC registered to curl, with its size, digest and version in the headers", async () => {
    const file = path.join(work, "got.onnx");
    const r = await run("curl", ["-sS", "-D", "-", "-o", file, "-H", `authorization: Bearer ${READER}`, at("versions", "2")]);
    expect(r.code, r.stderr).toBe(0);
    const head = r.stdout.toLowerCase();
    expect(head).toMatch(/^http\/1\.1 200/m);
    expect(head).toContain(`content-length: ${bytes.length}\r\n`);
    expect(head).toContain(`repr-digest: ${digestHeader(bytes).toLowerCase()}`);
    expect(head).toContain(`etag: "${sha256(bytes)}"`);
    expect(head).toContain("openloop-model-version: 2");
    expect(sha256(await readFile(file))).toBe(sha256(bytes));
  });

  it("resolves latest and aliases, answers HEAD with the headers alone, and serves HTTP/2", async () => {
    const latest = await get(at("versions", "latest"));
    expect(latest.headers.get("openloop-model-version")).toBe("2");
    expect(sha256(Buffer.from(await latest.arrayBuffer()))).toBe(sha256(bytes));
    const champion = await get(at("aliases", "champion"));
    expect(champion.headers.get("openloop-model-version")).toBe("1");
    expect(await champion.text()).toBe("old");
    const head = await get(at("versions", "2"), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const session = http2.connect(s.baseUrl);
    try {
      const got = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const req = session.request({ ":method": "GET", ":path": "/registry/v1/models/get-me/versions/2/artifacts/m.onnx", authorization: `Bearer ${READER}` });
        const parts: Buffer[] = [];
        let status = 0;
        req.once("response", (h) => (status = Number(h[":status"])));
        req.on("data", (d: Buffer) => parts.push(d));
        req.once("end", () => resolve({ status, body: Buffer.concat(parts) }));
        req.once("error", reject);
        req.end();
      });
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(sha256(bytes));
    } finally {
      session.close();
    }
  });

  it("answers what is missing with NOT_FOUND, and needs registry:read", async () => {
    for (const target of [at("versions", "9"), at("aliases", "nobody"), `${s.baseUrl}/registry/v1/models/get-me/versions/2/artifacts/other.bin`, `${s.baseUrl}/registry/v1/models/nobody/versions/latest/artifacts/m.onnx`]) {
      const res = await get(target);
      expect({ target, status: res.status }).toEqual({ target, status: 404 });
      expect(await res.json()).toMatchObject({ code: "not_found" });
    }
    const none = await fetch(at("versions", "2"));
    expect(none.status).toBe(401);
    const upOnAlias = await put(`${s.baseUrl}/registry/v1/models/get-me/aliases/champion/artifacts/m.onnx`, Buffer.from("x"), { "openloop-model-version": '{"type": "onnx"}' });
    expect(upOnAlias.status).toBe(400);
  });

  it("cuts the body short when the stored file no longer matches its digest, so no client takes it as whole", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    await upload(client, { name: "get-rot", version: "1", type: "onnx" }, [{ name: "m.onnx", chunks: [data] }]);
    // Flip one byte of the stored artifact, at the end (the last chunk): only the final digest can tell.
    const dir = path.join(s.config.dataDir, "registry", "models", "get-rot", "versions", "1", "artifacts");
    expect(await readdir(dir)).toEqual(["m.onnx"]);
    const stored = path.join(dir, "m.onnx");
    const rotten = Buffer.from(await readFile(stored));
    rotten[rotten.length - 1] ^= 0xff;
    await writeFile(stored, rotten);
    const out = path.join(work, "rot.onnx");
    const r = await run("curl", ["-sS", "-o", out, "-H", `authorization: Bearer ${READER}`, `${s.baseUrl}/registry/v1/models/get-rot/versions/1/artifacts/m.onnx`]);
    expect(r.code).not.toBe(0); // curl: the transfer ended before content-length
    expect((await readFile(out)).length).toBeLessThan(data.length);
    // The server goes on serving.
    expect((await get(at("versions", "2"), { method: "HEAD" })).status).toBe(200);
  });

  it("keeps every byte in place with many transfers at once sharing the aligned buffers", async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(1024 * 1024 * (i % 3) + 4096 * i + 17 * i));
    // Half through gRPC, half by PUT, all at once; then every one downloaded both ways at once.
    await Promise.all(
      bodies.map(async (body, i) => {
        if (i % 2 === 0) {
          await upload(client, { name: "many", version: String(i + 1), type: "onnx" }, [{ name: "m.onnx", chunks: [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)] }]);
        } else {
          const res = await put(url("many", String(i + 1), "m.onnx"), body, { "openloop-model-version": '{"type": "onnx"}', "content-digest": digestHeader(body) });
          expect(res.status).toBe(201);
        }
      }),
    );
    const got = await Promise.all(
      bodies.flatMap((_, i) => [
        get(`${s.baseUrl}/registry/v1/models/many/versions/${i + 1}/artifacts/m.onnx`).then(async (r) => sha256(Buffer.from(await r.arrayBuffer()))),
        download(client, { name: "many", selector: { case: "version", value: String(i + 1) } }).then((d) => d.sha256),
      ]),
    );
    expect(got).toEqual(bodies.flatMap((b) => [sha256(b), sha256(b)]));
  });
});
