// RegistryService over real connections (gRPC over HTTP/2, Connect over HTTP/1.1).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelRuntime } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { requireRuntime } from "../../src/registry/runtime.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { codeOf, download, registerSmall, registryClient, sha256, upload, uploadRequests, walk, type RegistryClient } from "./helpers.js";

let server: TestServer;
let client: RegistryClient;
let web: RegistryClient;
let dataRoot: string;

beforeAll(async () => {
  // The registry directory sits alone in a parent we own, so the test can check nothing is written beside it.
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "openloop-registry-"));
  server = await startTestServer({
    dataDir: path.join(dataRoot, "data"),
    registry: { dir: path.join(dataRoot, "confined", "registry"), maxArtifactBytes: 4 * 1024 * 1024, downloadChunkBytes: 64 * 1024 },
  });
  client = registryClient(server.grpc);
  web = registryClient(server.connect);
});

afterAll(async () => {
  await server?.close();
  await rm(dataRoot, { recursive: true, force: true });
});

const registryRoot = () => path.join(dataRoot, "confined", "registry");

describe("registration and download", () => {
  it("registers a version from a stream of chunks and downloads each artifact with its size and digest", async () => {
    const weights = randomBytes(300 * 1024);
    const config = Buffer.from('{"layers": 2}');
    const mv = await upload(client, { name: "roundtrip", version: "1", type: "onnx" }, [
      { name: "model.onnx", chunks: [weights.subarray(0, 100_000), weights.subarray(100_000, 250_000), weights.subarray(250_000)], sha256: sha256(weights) },
      { name: "config.json", chunks: [config] },
    ]);
    expect(mv.artifacts.map((a) => [a.name, a.sizeBytes, a.sha256])).toEqual([
      ["model.onnx", BigInt(weights.length), sha256(weights)],
      ["config.json", BigInt(config.length), sha256(config)],
    ]);

    const got = await download(client, { name: "roundtrip", selector: { case: "version", value: "1" }, artifactName: "model.onnx" }, true);
    expect(got.artifact).toMatchObject({ name: "model.onnx", sizeBytes: BigInt(weights.length), sha256: sha256(weights) });
    expect(got.version).toBe("1");
    expect(got.data!.equals(weights)).toBe(true);
    expect(got.maxChunkBytes).toBeLessThanOrEqual(64 * 1024);
    expect(got.chunks).toBe(Math.ceil(weights.length / (64 * 1024 - 16)));

    const cfg = await download(client, { name: "roundtrip", artifactName: "config.json" }, true);
    expect(cfg.data!.toString()).toBe('{"layers": 2}');
  });

  it("registers small artifacts through the unary twin over the Connect protocol", async () => {
    const res = await web.registerModelVersionUnary({
      header: { name: "browser-made", type: "linear", tags: ["web"] },
      artifacts: [{ name: "weights.json", data: Buffer.from("[0.5, -1]"), sha256: sha256("[0.5, -1]") }],
    });
    expect(res.modelVersion).toMatchObject({ name: "browser-made", version: "1", type: "linear", tags: ["web"] });
    const got = await download(web, { name: "browser-made" }, true);
    expect(got.data!.toString()).toBe("[0.5, -1]");
    expect(got.sha256).toBe(sha256("[0.5, -1]"));
  });

  it("streams a multi-chunk download intact through the in-process transport other services use", async () => {
    const body = randomBytes(5 * 64 * 1024 + 123);
    await upload(client, { name: "in-process", type: "gguf" }, [{ name: "m.gguf", chunks: [body] }]);
    const internal = registryClient(server.server.services.internal);
    const got = await download(internal, { name: "in-process" }, true);
    expect(got.chunks).toBeGreaterThan(5);
    expect(got.data!.equals(body)).toBe(true);
  });

  it("hands in-process callers chunks they may keep without copying", async () => {
    const body = randomBytes(4 * 64 * 1024 + 5);
    await upload(client, { name: "in-process-kept", type: "linear" }, [{ name: "w.bin", chunks: [body] }]);
    const internal = registryClient(server.server.services.internal);
    const kept: Uint8Array[] = [];
    for await (const res of internal.downloadArtifact({ name: "in-process-kept" })) {
      if (res.part.case === "data") kept.push(res.part.value);
    }
    expect(kept.length).toBeGreaterThan(3);
    expect(Buffer.concat(kept).equals(body)).toBe(true);
  });

  it("streams a download over gRPC-Web, as a browser would", async () => {
    const body = randomBytes(200 * 1024);
    await upload(client, { name: "grpc-web", type: "onnx" }, [{ name: "m.bin", chunks: [body] }]);
    const viaWeb = await download(registryClient(server.grpcWeb), { name: "grpc-web" }, true);
    expect(viaWeb.artifact.sha256).toBe(sha256(body));
    expect(viaWeb.data!.equals(body)).toBe(true);
  });

  it("records type, metadata, tags, description, lineage and registration time", async () => {
    const before = Date.now();
    await registerSmall(client, "lineage", "1", "linear");
    const mv = await upload(client, {
      name: "lineage",
      type: "Linear",
      description: "trained further on today's feedback",
      metadata: { "feature.count": "12", owner: "ranking" },
      tags: ["nightly", "ranking"],
      lineage: { parentVersion: "1", producer: "openloop-online-learner", samplesUsed: 5000n, details: { "loss.before": "0.41", "loss.after": "0.37" } },
    }, [{ name: "weights.bin", chunks: [Buffer.from("w")] }]);
    const got = (await client.getModelVersion({ name: "lineage", selector: { case: "version", value: mv.version } })).modelVersion!;
    expect(got).toMatchObject({
      version: "2",
      type: "linear",
      description: "trained further on today's feedback",
      metadata: { "feature.count": "12", owner: "ranking" },
      tags: ["nightly", "ranking"],
      lineage: { parentVersion: "1", parentName: "", producer: "openloop-online-learner", samplesUsed: 5000n, details: { "loss.before": "0.41", "loss.after": "0.37" } },
    });
    const created = Number(got.createTime!.seconds) * 1000 + got.createTime!.nanos / 1e6;
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("picks the only artifact when the download names none, and asks for a name when there are several", async () => {
    const single = await download(client, { name: "browser-made" });
    expect(single.artifact.name).toBe("weights.json");
    const e = await codeOf(download(client, { name: "roundtrip" }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("model.onnx, config.json");
  });

  it("answers NOT_FOUND for an unknown model, version, alias or artifact", async () => {
    expect((await codeOf(client.getModelVersion({ name: "no-such-model" }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.getModelVersion({ name: "roundtrip", selector: { case: "version", value: "99" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.getModelVersion({ name: "roundtrip", selector: { case: "alias", value: "nobody" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(download(client, { name: "roundtrip", artifactName: "missing.bin" }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.listModelVersions({ name: "no-such-model" }))).code).toBe(Code.NotFound);
  });

  it("requires the header as the first message, and only there", async () => {
    async function* chunkFirst() {
      yield { part: { case: "chunk" as const, value: { artifactName: "a", data: new Uint8Array(1) } } };
    }
    expect((await codeOf(client.registerModelVersion(chunkFirst()))).code).toBe(Code.InvalidArgument);
    async function* twoHeaders() {
      yield { part: { case: "header" as const, value: { name: "two-headers", type: "onnx" } } };
      yield { part: { case: "header" as const, value: { name: "two-headers", type: "onnx" } } };
    }
    expect((await codeOf(client.registerModelVersion(twoHeaders()))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(client.getModelVersion({ name: "two-headers" }))).code).toBe(Code.NotFound);
  });

  it("refuses an artifact name that appears twice in one version", async () => {
    const e = await codeOf(
      upload(client, { name: "dup-artifact", type: "onnx" }, [
        { name: "a.bin", chunks: [Buffer.from("1")] },
        { name: "b.bin", chunks: [Buffer.from("2")] },
        { name: "A.bin", chunks: [Buffer.from("3")] },
      ]),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("appears twice");
    expect((await codeOf(client.getModelVersion({ name: "dup-artifact" }))).code).toBe(Code.NotFound);
  });
});

describe("digests and limits", () => {
  it("fails with DATA_LOSS when the client's digest does not match the bytes, and registers nothing", async () => {
    const e = await codeOf(upload(client, { name: "corrupt", version: "1", type: "onnx" }, [{ name: "m.bin", chunks: [Buffer.from("real bytes")], sha256: sha256("other bytes") }]));
    expect(e.code).toBe(Code.DataLoss);
    expect(e.message).toContain(sha256("real bytes"));
    expect((await codeOf(client.getModelVersion({ name: "corrupt" }))).code).toBe(Code.NotFound);
  });

  it("rejects a malformed digest with INVALID_ARGUMENT", async () => {
    const e = await codeOf(client.registerModelVersionUnary({ header: { name: "bad-digest", type: "onnx" }, artifacts: [{ name: "m.bin", data: Buffer.from("x"), sha256: "abc" }] }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("64 hex characters");
  });

  it("stops an upload above the maximum artifact size with RESOURCE_EXHAUSTED and keeps nothing", async () => {
    let sent = 0;
    async function* endless() {
      // 64 MiB offered against a 4 MiB limit: the server must stop reading long before the end.
      for (let i = 0; i < 256; i++) {
        sent++;
        yield randomBytes(256 * 1024);
      }
    }
    const e = await codeOf(upload(client, { name: "too-big", type: "onnx" }, [{ name: "huge.bin", chunks: endless() }]));
    expect(e.code).toBe(Code.ResourceExhausted);
    expect(e.message).toContain("maximum artifact size of 4194304 bytes");
    expect(sent).toBeLessThan(256);
    expect((await codeOf(client.getModelVersion({ name: "too-big" }))).code).toBe(Code.NotFound);
  });
});

describe("versions", () => {
  it("assigns the next integer version when none is given, and never reuses a deleted number", async () => {
    expect((await registerSmall(client, "auto")).version).toBe("1");
    expect((await registerSmall(client, "auto")).version).toBe("2");
    await client.deleteModelVersion({ name: "auto", version: "2" });
    expect((await registerSmall(client, "auto")).version).toBe("3");
  });

  it("orders integer versions as numbers: 10 is newer than 9", async () => {
    for (const v of ["9", "10", "2"]) await registerSmall(client, "intorder", v);
    expect((await client.getModelVersion({ name: "intorder" })).modelVersion!.version).toBe("10");
    const list = await client.listModelVersions({ name: "intorder" });
    expect(list.modelVersions.map((m) => m.version)).toEqual(["10", "9", "2"]);
    expect((await registerSmall(client, "intorder")).version).toBe("11");
  });

  it("orders semantic versions by precedence, pre-releases before their release", async () => {
    for (const v of ["1.9.0", "1.10.0-rc.1", "1.10.0-alpha", "1.10.0-rc.11", "1.10.0-rc.2", "1.10.0", "1.2.0"]) await registerSmall(client, "semorder", v);
    expect((await client.getModelVersion({ name: "semorder" })).modelVersion!.version).toBe("1.10.0");
    const list = await client.listModelVersions({ name: "semorder" });
    expect(list.modelVersions.map((m) => m.version)).toEqual(["1.10.0", "1.10.0-rc.11", "1.10.0-rc.2", "1.10.0-rc.1", "1.10.0-alpha", "1.9.0", "1.2.0"]);
  });

  it("refuses to mix integer and semantic versions in one model", async () => {
    await registerSmall(client, "mixed", "1.0.0");
    const e = await codeOf(registerSmall(client, "mixed", "2"));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.message).toContain("semantic versions");
    expect((await codeOf(registerSmall(client, "mixed"))).code).toBe(Code.FailedPrecondition);
  });

  it("answers ALREADY_EXISTS when a version is registered twice", async () => {
    await registerSmall(client, "immutable", "4");
    expect((await codeOf(registerSmall(client, "immutable", "4"))).code).toBe(Code.AlreadyExists);
  });

  it("lets exactly one of several concurrent registrations of the same version win", async () => {
    const body = randomBytes(512 * 1024);
    const attempts = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        upload(client, { name: "race", version: "7", type: "onnx", metadata: { writer: String(i) } }, [
          { name: "m.bin", chunks: [body.subarray(0, 200_000), body.subarray(200_000)] },
        ]),
      ),
    );
    const won = attempts.filter((a) => a.status === "fulfilled");
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected");
    expect(won).toHaveLength(1);
    expect(await Promise.all(lost.map((l) => codeOf(Promise.reject(l.reason)).then((e) => e.code)))).toEqual(Array(5).fill(Code.AlreadyExists));
    const stored = (await client.getModelVersion({ name: "race", selector: { case: "version", value: "7" } })).modelVersion!;
    expect(stored.metadata.writer).toBe((won[0] as PromiseFulfilledResult<{ metadata: Record<string, string> }>).value.metadata.writer);
    expect((await client.listModelVersions({ name: "race" })).modelVersions).toHaveLength(1);
  });

  it("gives concurrent registrations without a version distinct consecutive numbers", async () => {
    const got = await Promise.all(Array.from({ length: 8 }, () => registerSmall(client, "auto-race")));
    expect(got.map((m) => Number(m.version)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe("aliases", () => {
  it("resolves an alias, moves it, reports it on the version, and resolves 'latest' to the newest", async () => {
    for (const v of ["1", "2", "3"]) await registerSmall(client, "aliased", v);
    const set = await client.setAlias({ name: "aliased", alias: "champion", version: "1" });
    expect(set.modelVersion).toMatchObject({ version: "1", aliases: ["champion"] });
    expect((await client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "champion" } })).modelVersion!.version).toBe("1");
    await client.setAlias({ name: "aliased", alias: "champion", version: "2" });
    await client.setAlias({ name: "aliased", alias: "challenger", version: "2" });
    const two = (await client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "champion" } })).modelVersion!;
    expect(two).toMatchObject({ version: "2", aliases: ["challenger", "champion"] });
    expect((await client.getModelVersion({ name: "aliased", selector: { case: "version", value: "1" } })).modelVersion!.aliases).toEqual([]);
    expect((await client.listModelVersions({ name: "aliased" })).modelVersions.map((m) => [m.version, m.aliases])).toEqual([
      ["3", []],
      ["2", ["challenger", "champion"]],
      ["1", []],
    ]);
    expect((await client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "latest" } })).modelVersion!.version).toBe("3");
    const dl = await download(client, { name: "aliased", selector: { case: "alias", value: "champion" } }, true);
    expect(dl.version).toBe("2");
    expect(dl.data!.toString()).toBe("aliased@2");
    const model = (await client.listModels({ pageSize: 1000 })).models.find((m) => m.name === "aliased")!;
    expect(model.aliases).toEqual({ champion: "2", challenger: "2" });
  });

  it("deletes an alias, after which it no longer resolves", async () => {
    await registerSmall(client, "alias-del", "1");
    await client.setAlias({ name: "alias-del", alias: "staging", version: "1" });
    await client.deleteAlias({ name: "alias-del", alias: "staging" });
    expect((await codeOf(client.getModelVersion({ name: "alias-del", selector: { case: "alias", value: "staging" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.deleteAlias({ name: "alias-del", alias: "staging" }))).code).toBe(Code.NotFound);
  });

  it("refuses aliases that look like versions, 'latest', and aliases to missing versions", async () => {
    await registerSmall(client, "alias-bad", "1");
    for (const alias of ["1", "2.0.0", "latest", "Champion", "a/b", "..x", ""]) {
      const e = await codeOf(client.setAlias({ name: "alias-bad", alias, version: "1" }));
      expect(e.code, alias).toBe(Code.InvalidArgument);
    }
    expect((await codeOf(client.setAlias({ name: "alias-bad", alias: "prod", version: "9" }))).code).toBe(Code.NotFound);
  });
});

describe("deletion", () => {
  it("refuses to delete a version an alias points at unless forced, and forced removes the alias too", async () => {
    await registerSmall(client, "deletable", "1");
    await registerSmall(client, "deletable", "2");
    await client.setAlias({ name: "deletable", alias: "prod", version: "1" });
    const e = await codeOf(client.deleteModelVersion({ name: "deletable", version: "1" }));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.message).toContain("'prod'");
    expect((await client.getModelVersion({ name: "deletable", selector: { case: "version", value: "1" } })).modelVersion!.version).toBe("1");

    await client.deleteModelVersion({ name: "deletable", version: "1", force: true });
    expect((await codeOf(client.getModelVersion({ name: "deletable", selector: { case: "version", value: "1" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.getModelVersion({ name: "deletable", selector: { case: "alias", value: "prod" } }))).code).toBe(Code.NotFound);
    expect((await client.listModelVersions({ name: "deletable" })).modelVersions.map((m) => m.version)).toEqual(["2"]);
  });

  it("deletes a version without aliases, and the model disappears with its last version", async () => {
    await registerSmall(client, "short-lived", "1");
    await client.deleteModelVersion({ name: "short-lived", version: "1" });
    expect((await codeOf(client.getModelVersion({ name: "short-lived" }))).code).toBe(Code.NotFound);
    expect((await client.listModels({ pageSize: 1000 })).models.map((m) => m.name)).not.toContain("short-lived");
    expect((await codeOf(client.deleteModelVersion({ name: "short-lived", version: "1" }))).code).toBe(Code.NotFound);
  });
});

describe("pagination", () => {
  it("pages through models in name order with opaque page tokens", async () => {
    const names = Array.from({ length: 7 }, (_, i) => `page-model-${i}`);
    for (const n of names) await registerSmall(client, n, "1");
    const all = (await client.listModels({ pageSize: 1000 })).models.map((m) => m.name);
    expect(all).toEqual([...all].sort());
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await client.listModels({ pageSize: 3, pageToken: token });
      expect(res.models.length).toBeLessThanOrEqual(3);
      seen.push(...res.models.map((m) => m.name));
      token = res.nextPageToken;
      pages++;
    } while (token !== "");
    expect(seen).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 3));
  });

  it("pages through versions newest first, stable while older versions are deleted", async () => {
    for (let v = 1; v <= 10; v++) await registerSmall(client, "page-versions", String(v));
    const first = await client.listModelVersions({ name: "page-versions", pageSize: 4 });
    expect(first.modelVersions.map((m) => m.version)).toEqual(["10", "9", "8", "7"]);
    await client.deleteModelVersion({ name: "page-versions", version: "5" });
    const second = await client.listModelVersions({ name: "page-versions", pageSize: 4, pageToken: first.nextPageToken });
    expect(second.modelVersions.map((m) => m.version)).toEqual(["6", "4", "3", "2"]);
    const third = await client.listModelVersions({ name: "page-versions", pageSize: 4, pageToken: second.nextPageToken });
    expect(third.modelVersions.map((m) => m.version)).toEqual(["1"]);
    expect(third.nextPageToken).toBe("");
  });

  it("rejects a page token that this listing did not return", async () => {
    const res = await client.listModelVersions({ name: "page-versions", pageSize: 2 });
    expect((await codeOf(client.listModelVersions({ name: "intorder", pageToken: res.nextPageToken }))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(client.listModels({ pageToken: res.nextPageToken }))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(client.listModels({ pageToken: "not-a-token" }))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(client.listModels({ pageSize: -1 }))).code).toBe(Code.InvalidArgument);
  });
});

describe("validation and confinement", () => {
  const badNames = ["../escape", "..", "a/b", "/etc", "a\\b", "Upper", "", "x".repeat(65), ".hidden", "dot.", "a..b", "space name", "nul\0"];
  it.each(badNames)("rejects the model name %j with INVALID_ARGUMENT saying what is allowed", async (name) => {
    const e = await codeOf(registerSmall(client, name, "1"));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toMatch(/model name (must be|is required)/);
    expect(e.message).toContain("[a-z0-9._-]");
  });

  const badArtifacts = ["../../../../tmp/evil", "a/b", "/abs", "..", ".", "x\\y", ".env", "n".repeat(129)];
  it.each(badArtifacts)("rejects the artifact name %j with INVALID_ARGUMENT", async (name) => {
    const e = await codeOf(upload(client, { name: "artifact-names", type: "onnx" }, [{ name, chunks: [Buffer.from("x")] }]));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("artifact name");
  });

  const badVersions = ["01", "1.0", "v1", "1.0.0+build.5", "../1", "1.0.0-", "-1", "1.2.3.4", "9".repeat(19)];
  it.each(badVersions)("rejects the version %j with INVALID_ARGUMENT", async (version) => {
    const e = await codeOf(registerSmall(client, "version-names", version));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("version must be");
  });

  it("rejects a missing model type", async () => {
    const e = await codeOf(client.registerModelVersionUnary({ header: { name: "typeless" }, artifacts: [] }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.message).toContain("model type is required");
  });

  it("never writes outside its storage directory, whatever names were tried", async () => {
    // Runs after the rejection cases above (vitest runs a file's tests in order).
    expect(await readdir(path.join(dataRoot, "confined"))).toEqual(["registry"]);
    expect((await readdir(dataRoot)).sort()).toEqual(["confined", "data"]);
    expect(await walk(path.join(dataRoot, "data"))).not.toContainEqual(expect.stringMatching(/evil|escape/));
    const tree = await walk(registryRoot());
    expect(tree.filter((p) => !/^(tmp|models)(\/|$)/.test(p))).toEqual(["lock.json"]);
    expect(tree.filter((p) => /evil|escape|etc|\.env/.test(p))).toEqual([]);
    expect(await readdir(path.join(registryRoot(), "tmp"))).toEqual([]);
  });
});

describe("runtimes", () => {
  it("reports which openloop runtime loads each model type", async () => {
    const gguf = await registerSmall(client, "rt-gguf", "1", "gguf");
    const linear = await registerSmall(client, "rt-linear", "1", "linear");
    const onnx = await registerSmall(client, "rt-onnx", "1", "onnx");
    expect([gguf.runtime, linear.runtime, onnx.runtime]).toEqual([ModelRuntime.LLM, ModelRuntime.ONLINE_LEARNER, ModelRuntime.NONE]);
  });

  it("gives loaders a FAILED_PRECONDITION naming a type they cannot load, while its artifacts still download", async () => {
    const onnx = (await client.getModelVersion({ name: "rt-onnx" })).modelVersion!;
    let thrown: unknown;
    try {
      requireRuntime(onnx, ModelRuntime.LLM);
    } catch (err) {
      thrown = err;
    }
    const e = await codeOf(Promise.reject(thrown));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.message).toContain("type 'onnx'");
    expect((await download(client, { name: "rt-onnx" })).bytes).toBe(Buffer.byteLength("rt-onnx@1"));
    expect(() => requireRuntime({ name: "rt-gguf", version: "1", type: "gguf" }, ModelRuntime.LLM)).not.toThrow();
  });
});

describe("cancellation", () => {
  it("keeps no version and no temp files when the client cancels mid-upload", async () => {
    const abort = new AbortController();
    let sent = 0;
    async function* slow() {
      for (;;) {
        yield randomBytes(64 * 1024);
        if (++sent === 8) abort.abort();
      }
    }
    const e = await codeOf(client.registerModelVersion(uploadRequests({ name: "cancelled", version: "1", type: "onnx" }, [{ name: "m.bin", chunks: slow() }]), { signal: abort.signal }));
    expect(e.code).toBe(Code.Canceled);
    // The server notices the reset asynchronously; wait for it to drop the temp dir.
    await expect.poll(() => readdir(path.join(registryRoot(), "tmp")), { timeout: 10_000 }).toEqual([]);
    expect((await codeOf(client.getModelVersion({ name: "cancelled" }))).code).toBe(Code.NotFound);
    // The version stays free for a later, complete upload.
    expect((await registerSmall(client, "cancelled", "1")).version).toBe("1");
  });
});

describe("stalled uploads", () => {
  it("drops an upload that stops sending with DEADLINE_EXCEEDED and keeps nothing", async () => {
    const stalling = await startTestServer({ registry: { uploadIdleTimeoutMs: 300 } });
    try {
      const c = registryClient(stalling.grpc);
      const never = new Promise<never>(() => {});
      async function* stall() {
        yield Buffer.from("first bytes");
        await never; // the client keeps the stream open and sends nothing more
      }
      const e = await codeOf(upload(c, { name: "stalled", version: "1", type: "onnx" }, [{ name: "m.bin", chunks: stall() }]));
      expect(e.code).toBe(Code.DeadlineExceeded);
      expect(e.message).toContain("sent nothing for 300 ms");
      await expect.poll(() => readdir(path.join(stalling.config.dataDir, "registry", "tmp")), { timeout: 10_000 }).toEqual([]);
      expect((await codeOf(c.getModelVersion({ name: "stalled" }))).code).toBe(Code.NotFound);
    } finally {
      await stalling.close();
    }
  });
});

describe("full disk", () => {
  // Needs a small filesystem of its own: a 2 MiB tmpfs, which only root can mount.
  const canMount = process.getuid?.() === 0 && spawnSync("mount", ["--version"]).status === 0;

  it.skipIf(!canMount)("answers RESOURCE_EXHAUSTED when the disk fills, keeps nothing, and works again once space is free", async () => {
    const mnt = await mkdtemp(path.join(os.tmpdir(), "openloop-registry-full-"));
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    expect(mounted.status, String(mounted.stderr)).toBe(0);
    const small = await startTestServer({ registry: { dir: path.join(mnt, "registry") } });
    try {
      const c = registryClient(small.grpc);
      const e = await codeOf(upload(c, { name: "too-much", type: "onnx" }, [{ name: "m.bin", chunks: [randomBytes(1024 * 1024), randomBytes(1024 * 1024), randomBytes(1024 * 1024)] }]));
      expect(e.code).toBe(Code.ResourceExhausted);
      expect(e.message).toContain("disk is full");
      expect(await readdir(path.join(mnt, "registry", "tmp"))).toEqual([]);
      expect((await codeOf(c.getModelVersion({ name: "too-much" }))).code).toBe(Code.NotFound);
      expect((await registerSmall(c, "fits", "1")).version).toBe("1");
    } finally {
      await small.close();
      spawnSync("umount", [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  });
});

describe("metrics", () => {
  it("counts registrations and the bytes moved each way on /metrics", async () => {
    const read = async (name: string) => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const [up0, down0] = [await read("openloop_registry_upload_bytes_total"), await read("openloop_registry_download_bytes_total")];
    const body = randomBytes(100_000);
    await upload(client, { name: "metered", type: "onnx" }, [{ name: "m.bin", chunks: [body] }]);
    await download(client, { name: "metered" });
    expect((await read("openloop_registry_upload_bytes_total")) - up0).toBe(100_000);
    expect((await read("openloop_registry_download_bytes_total")) - down0).toBe(100_000);
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^openloop_registry_registrations_total\{result="ok"\} [1-9]/m);
    expect(text).toMatch(/^openloop_registry_registrations_total\{result="ALREADY_EXISTS"\} [1-9]/m);
  });
});
