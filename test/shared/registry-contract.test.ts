// RegistryService behaviour that must hold on both storage backends: embedded (local files) and
// shared (PostgreSQL + S3 on SeaweedFS), over real gRPC connections.
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { codeOf, download, registerSmall, registryClient, sha256, upload, type RegistryClient } from "../registry/helpers.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

let backend: SharedBackend;
beforeAll(async () => {
  backend = await startSharedBackend({ artifacts: "s3" });
});
afterAll(async () => {
  await backend?.teardown();
});

describe.each(["embedded", "shared"] as const)("registry on %s storage", (mode) => {
  let server: TestServer;
  let client: RegistryClient;
  beforeAll(async () => {
    // A long TTL: the hot-path test below counts statements, and no periodic re-read may run meanwhile.
    const storage = mode === "shared" ? await backend.config("registry_contract", 600_000) : {};
    server = await startTestServer({ ...storage, registry: { maxArtifactBytes: 1024 * 1024, downloadChunkBytes: 64 * 1024 } });
    client = registryClient(server.grpc);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("registers a version and downloads each artifact with its size and digest", async () => {
    const a = randomBytes(300_000);
    const b = randomBytes(10);
    const mv = await upload(client, { name: "two-files", version: "1", type: "onnx" }, [
      { name: "model.onnx", chunks: [a.subarray(0, 100_000), a.subarray(100_000)], sha256: sha256(a) },
      { name: "vocab.txt", chunks: [b] },
    ]);
    expect(mv.artifacts.map((x) => [x.name, Number(x.sizeBytes), x.sha256])).toEqual([
      ["model.onnx", a.length, sha256(a)],
      ["vocab.txt", b.length, sha256(b)],
    ]);
    const got = await download(client, { name: "two-files", artifactName: "model.onnx" });
    expect(got).toMatchObject({ version: "1", bytes: a.length, sha256: sha256(a) });
    expect(got.maxChunkBytes).toBeLessThanOrEqual(64 * 1024);
  });

  it("fails with DATA_LOSS when the client's digest does not match, and registers nothing", async () => {
    const e = await codeOf(upload(client, { name: "bad-digest", version: "1", type: "onnx" }, [{ name: "m.bin", chunks: [Buffer.from("abc")], sha256: sha256("abd") }]));
    expect(e.code).toBe(Code.DataLoss);
    expect((await codeOf(client.getModelVersion({ name: "bad-digest" }))).code).toBe(Code.NotFound);
  });

  it("stops an upload above the maximum artifact size with RESOURCE_EXHAUSTED", async () => {
    const e = await codeOf(upload(client, { name: "too-big", version: "1", type: "onnx" }, [{ name: "m.bin", chunks: [randomBytes(700_000), randomBytes(700_000)] }]));
    expect(e.code).toBe(Code.ResourceExhausted);
    expect((await codeOf(client.getModelVersion({ name: "too-big" }))).code).toBe(Code.NotFound);
  });

  it("assigns the next integer version, and never reuses a deleted number", async () => {
    expect((await registerSmall(client, "auto")).version).toBe("1");
    expect((await registerSmall(client, "auto")).version).toBe("2");
    await client.deleteModelVersion({ name: "auto", version: "2" });
    expect((await registerSmall(client, "auto")).version).toBe("3");
  });

  it("orders versions: integers as numbers, semantic versions by precedence", async () => {
    for (const v of ["9", "10", "2"]) await registerSmall(client, "intorder", v);
    expect((await client.getModelVersion({ name: "intorder" })).modelVersion!.version).toBe("10");
    expect((await client.listModelVersions({ name: "intorder" })).modelVersions.map((m) => m.version)).toEqual(["10", "9", "2"]);
    expect((await registerSmall(client, "intorder")).version).toBe("11");
    for (const v of ["1.9.0", "1.10.0-rc.1", "1.10.0"]) await registerSmall(client, "semorder", v);
    expect((await client.getModelVersion({ name: "semorder" })).modelVersion!.version).toBe("1.10.0");
  });

  it("refuses to mix version schemes and versions differing only by case", async () => {
    await registerSmall(client, "mixed", "1.0.0-RC.1");
    expect((await codeOf(registerSmall(client, "mixed", "2"))).code).toBe(Code.FailedPrecondition);
    expect((await codeOf(registerSmall(client, "mixed"))).code).toBe(Code.FailedPrecondition);
    expect((await codeOf(registerSmall(client, "mixed", "1.0.0-rc.1"))).code).toBe(Code.AlreadyExists);
  });

  it("lets exactly one of several concurrent registrations of the same version win, with its own bytes", async () => {
    const bodies = Array.from({ length: 6 }, () => randomBytes(200_000));
    const attempts = await Promise.allSettled(
      bodies.map((body, i) => upload(client, { name: "race", version: "7", type: "onnx", metadata: { writer: String(i) } }, [{ name: "m.bin", chunks: [body.subarray(0, 90_000), body.subarray(90_000)] }])),
    );
    const won = attempts.flatMap((a, i) => (a.status === "fulfilled" ? [{ i, mv: a.value }] : []));
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected");
    expect(won).toHaveLength(1);
    expect(await Promise.all(lost.map((l) => codeOf(Promise.reject(l.reason)).then((e) => e.code)))).toEqual(Array(5).fill(Code.AlreadyExists));
    expect(won[0]!.mv.metadata.writer).toBe(String(won[0]!.i));
    expect((await download(client, { name: "race" })).sha256).toBe(sha256(bodies[won[0]!.i]!));
  });

  it("gives concurrent registrations without a version distinct consecutive numbers", async () => {
    const got = await Promise.all(Array.from({ length: 8 }, () => registerSmall(client, "auto-race")));
    expect(got.map((m) => Number(m.version)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("resolves, moves and deletes aliases", async () => {
    for (const v of ["1", "2", "3"]) await registerSmall(client, "aliased", v);
    expect((await client.setAlias({ name: "aliased", alias: "champion", version: "1" })).modelVersion).toMatchObject({ version: "1", aliases: ["champion"] });
    await client.setAlias({ name: "aliased", alias: "champion", version: "2" });
    await client.setAlias({ name: "aliased", alias: "challenger", version: "2" });
    expect((await client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "champion" } })).modelVersion).toMatchObject({ version: "2", aliases: ["challenger", "champion"] });
    expect((await client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "latest" } })).modelVersion!.version).toBe("3");
    expect((await download(client, { name: "aliased", selector: { case: "alias", value: "champion" } }, true)).data!.toString()).toBe("aliased@2");
    expect((await client.listModels({ pageSize: 1000 })).models.find((m) => m.name === "aliased")!.aliases).toEqual({ champion: "2", challenger: "2" });
    await client.deleteAlias({ name: "aliased", alias: "challenger" });
    expect((await codeOf(client.getModelVersion({ name: "aliased", selector: { case: "alias", value: "challenger" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.deleteAlias({ name: "aliased", alias: "challenger" }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.setAlias({ name: "aliased", alias: "prod", version: "9" }))).code).toBe(Code.NotFound);
  });

  it("refuses to delete an aliased version unless forced; the model disappears with its last version", async () => {
    await registerSmall(client, "deletable", "1");
    await client.setAlias({ name: "deletable", alias: "prod", version: "1" });
    const e = await codeOf(client.deleteModelVersion({ name: "deletable", version: "1" }));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.message).toContain("'prod'");
    await client.deleteModelVersion({ name: "deletable", version: "1", force: true });
    expect((await codeOf(client.getModelVersion({ name: "deletable", selector: { case: "alias", value: "prod" } }))).code).toBe(Code.NotFound);
    expect((await codeOf(client.getModelVersion({ name: "deletable" }))).code).toBe(Code.NotFound);
    expect((await codeOf(download(client, { name: "deletable", selector: { case: "version", value: "1" } }))).code).toBe(Code.NotFound);
    expect((await client.listModels({ pageSize: 1000 })).models.map((m) => m.name)).not.toContain("deletable");
  });

  it("pages through models and versions", async () => {
    for (let i = 0; i < 5; i++) await registerSmall(client, "paged", String(i + 1));
    const first = await client.listModelVersions({ name: "paged", pageSize: 2 });
    const second = await client.listModelVersions({ name: "paged", pageSize: 2, pageToken: first.nextPageToken });
    expect([...first.modelVersions, ...second.modelVersions].map((m) => m.version)).toEqual(["5", "4", "3", "2"]);
  });

  it.runIf(mode === "shared")("serves hot reads from the replica's cache without asking PostgreSQL", async () => {
    await registerSmall(client, "hot", "1");
    await client.setAlias({ name: "hot", alias: "prod", version: "1" });
    const statements = async () => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      return Number(/^openloop_postgres_statements_total\{result="answered"\} (\d+)/m.exec(text)?.[1]);
    };
    // First reads fill the cache.
    await client.getModelVersion({ name: "hot", selector: { case: "alias", value: "prod" } });
    await download(client, { name: "hot" });
    const before = await statements();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) {
      await client.getModelVersion({ name: "hot", selector: { case: "alias", value: "prod" } });
      await client.getModelVersion({ name: "hot", selector: { case: "version", value: "1" } });
      await client.getModelVersion({ name: "hot" });
    }
    for (let i = 0; i < 10; i++) expect((await download(client, { name: "hot" }, true)).data!.toString()).toBe("hot@1");
    expect(await statements()).toBe(before);
  });
});
