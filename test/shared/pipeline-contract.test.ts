// PipelineService definitions on both storage backends, and on shared storage across two
// replicas: what one writes the other sees, and writes that must have one winner have one.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "../pipeline/helpers.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

let backend: SharedBackend;
beforeAll(async () => {
  backend = await startSharedBackend();
});
afterAll(async () => {
  await backend?.teardown();
});

const simple = (template = "Summarize: {{text}}") => spec({ inputVariables: ["text"], preprocess: [{ template: { template } }], generate: [{ llmGenerate: { model: MODEL } }] });
const codeOf = async (fn: () => Promise<unknown>) => ConnectError.from(await failure(fn)).code;

describe.each(["embedded", "shared"] as const)("pipelines on %s storage", (mode) => {
  let s: PipelineServer;
  beforeAll(async () => {
    s = await startPipelineServer({ ...(mode === "shared" ? await backend.config("pipeline_contract") : {}), pipeline: { maxRevisions: 3 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("stores revisions, refuses a stale expected revision, keeps at most maxRevisions", async () => {
    const name = uniqueName();
    expect((await s.client.createPipeline({ name, spec: simple("1 {{text}}") })).pipeline!.revision).toBe(1);
    expect(await codeOf(() => s.client.createPipeline({ name, spec: simple() }))).toBe(Code.AlreadyExists);
    expect((await s.client.updatePipeline({ name, spec: simple("2 {{text}}"), expectedRevision: 1 })).pipeline!.revision).toBe(2);
    expect(await codeOf(() => s.client.updatePipeline({ name, spec: simple("x {{text}}"), expectedRevision: 1 }))).toBe(Code.FailedPrecondition);
    for (const n of [3, 4]) await s.client.updatePipeline({ name, spec: simple(`${n} {{text}}`) });
    expect((await s.client.getPipeline({ name })).pipeline!.revision).toBe(4);
    expect((await s.client.getPipeline({ name, revision: 2 })).pipeline!.spec!.preprocess[0]!.kind.value).toMatchObject({ template: "2 {{text}}" });
    expect(await codeOf(() => s.client.getPipeline({ name, revision: 1 }))).toBe(Code.NotFound);
    const run = await s.client.executePipeline({ name, revision: 3, inputs: { text: "x" } });
    expect(run.revision).toBe(3);
  });

  it("lists and deletes pipelines", async () => {
    const names = [uniqueName(), uniqueName()];
    for (const name of names) await s.client.createPipeline({ name, spec: simple() });
    const listed = (await s.client.listPipelines({ pageSize: 1000 })).pipelines.map((p) => p.name);
    for (const name of names) expect(listed).toContain(name);
    await s.client.deletePipeline({ name: names[0]! });
    expect(await codeOf(() => s.client.getPipeline({ name: names[0]! }))).toBe(Code.NotFound);
    expect(await codeOf(() => s.client.deletePipeline({ name: names[0]! }))).toBe(Code.NotFound);
    expect((await s.client.createPipeline({ name: names[0]!, spec: simple() })).pipeline!.revision).toBe(1);
  });
});

describe("pipelines shared by two replicas", () => {
  let a: PipelineServer;
  let b: PipelineServer;
  beforeAll(async () => {
    const config = await backend.config("pipeline_replicas");
    a = await startPipelineServer(config);
    b = await startPipelineServer(config);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("shows a pipeline created through one replica through the other at once, and runs it there", async () => {
    const name = uniqueName();
    await a.client.createPipeline({ name, description: "from a", spec: simple() });
    expect((await b.client.getPipeline({ name })).pipeline!.description).toBe("from a");
    expect((await b.client.executePipeline({ name, inputs: { text: "hi" } })).revision).toBe(1);
  });

  it("shows an update and a deletion through the other replica within a second", async () => {
    const name = uniqueName();
    await a.client.createPipeline({ name, spec: simple() });
    expect((await b.client.getPipeline({ name })).pipeline!.revision).toBe(1);
    await a.client.updatePipeline({ name, spec: simple("new {{text}}") });
    await expect.poll(async () => (await b.client.getPipeline({ name })).pipeline!.revision, { timeout: 1_000, interval: 20 }).toBe(2);
    await expect.poll(async () => (await b.client.listPipelines({ pageSize: 1000 })).pipelines.find((p) => p.name === name)?.revision, { timeout: 1_000, interval: 20 }).toBe(2);
    await b.client.deletePipeline({ name });
    await expect.poll(() => codeOf(() => a.client.getPipeline({ name })), { timeout: 1_000, interval: 20 }).toBe(Code.NotFound);
  });

  it("shows a pipeline deleted and created again through the other replica at its new revision 1", async () => {
    const name = uniqueName();
    await a.client.createPipeline({ name, spec: simple() });
    for (const n of [2, 3]) await a.client.updatePipeline({ name, spec: simple(`${n} {{text}}`) });
    await expect.poll(async () => (await b.client.getPipeline({ name })).pipeline!.revision, { timeout: 1_000, interval: 10 }).toBe(3);
    await b.client.deletePipeline({ name });
    await b.client.createPipeline({ name, description: "again", spec: simple() });
    await expect.poll(async () => (await a.client.getPipeline({ name })).pipeline!.description, { timeout: 1_000, interval: 10 }).toBe("again");
    expect((await a.client.getPipeline({ name })).pipeline!.revision).toBe(1);
  });

  it("lets exactly one of two replicas create the same pipeline", async () => {
    const name = uniqueName();
    const results = await Promise.allSettled([a.client.createPipeline({ name, spec: simple("a {{text}}") }), b.client.createPipeline({ name, spec: simple("b {{text}}") })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect(ConnectError.from(lost.reason).code).toBe(Code.AlreadyExists);
  });

  it("lets exactly one of two replicas update from the same expected revision", async () => {
    const name = uniqueName();
    await a.client.createPipeline({ name, spec: simple() });
    await b.client.getPipeline({ name });
    const results = await Promise.allSettled([
      a.client.updatePipeline({ name, spec: simple("a {{text}}"), expectedRevision: 1 }),
      b.client.updatePipeline({ name, spec: simple("b {{text}}"), expectedRevision: 1 }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect(ConnectError.from(lost.reason).code).toBe(Code.FailedPrecondition);
    expect((await a.client.getPipeline({ name })).pipeline!.revision).toBe(2);
  });

  it("gives concurrent updates without an expected revision distinct revisions", async () => {
    const name = uniqueName();
    await a.client.createPipeline({ name, spec: simple() });
    await b.client.getPipeline({ name });
    const got = await Promise.all([a, b, a, b].map((r, i) => r.client.updatePipeline({ name, spec: simple(`${i} {{text}}`) })));
    expect(got.map((g) => g.pipeline!.revision).sort()).toEqual([2, 3, 4, 5]);
  });
});
