// Pipeline definitions: creation checks, revisions, listing, deletion, durability and the config file.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { startTestServer } from "../support/server.js";
import { failure, llmConfig, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

let s: PipelineServer;
beforeAll(async () => {
  s = await startPipelineServer();
});
afterAll(async () => {
  await s?.close();
});

const simple = (template = "Summarize: {{text}}") => spec({ inputVariables: ["text"], preprocess: [{ template: { template } }], generate: [{ llmGenerate: { model: MODEL } }] });

describe("creating pipelines", () => {
  it("stores a pipeline at revision 1 and returns it", async () => {
    const name = uniqueName();
    const { pipeline } = await s.client.createPipeline({ name, description: "summaries", spec: simple() });
    expect(pipeline!.revision).toBe(1);
    expect(pipeline!.description).toBe("summaries");
    expect(pipeline!.spec!.preprocess[0].kind).toEqual({ case: "template", value: expect.objectContaining({ template: "Summarize: {{text}}" }) });
    const got = await s.client.getPipeline({ name });
    expect(got.pipeline!.spec).toEqual(pipeline!.spec);
  });

  it("lists every problem of a definition in one INVALID_ARGUMENT", async () => {
    const err = ConnectError.from(
      await failure(() =>
        s.client.createPipeline({
          name: uniqueName(),
          spec: spec({
            inputVariables: ["text"],
            preprocess: [{ template: { template: "{{text}} for {{audience}}" } }, { custom: { type: "no_such_step" } }],
            generate: [{ llmGenerate: { model: "no-such-model", systemPrompt: "{{tone" } }],
            postprocess: [{ regexExtract: { pattern: "no groups" } }],
            validate: [{ trim: {} }, { jsonSchema: { schema: { type: "nonsense" } } }],
            hooks: [{ url: "ftp://example.com/x", events: ["HOOK_EVENT_ERROR"] }],
          }),
        }),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    const m = err.rawMessage;
    expect(m).toContain("preprocess step 1 (template): variable 'audience' is not provided");
    expect(m).toContain("preprocess step 2 (no_such_step): unknown step type 'no_such_step'");
    expect(m).toContain("generate step 1 (llm_generate): systemPrompt: unclosed '{{'");
    expect(m).toContain("postprocess step 1 (regex_extract): pattern: needs at least one named group");
    expect(m).toContain("validate step 1 (trim): 'trim' is a postprocess step and cannot run in the validate stage");
    expect(m).toContain("validate step 2 (json_schema): schema:");
    expect(m).toContain("hook 1: url must use http or https");
    expect(m).toContain("has 7 problems");
  });

  it("refuses a model LLMService does not serve", async () => {
    const err = ConnectError.from(
      await failure(() => s.client.createPipeline({ name: uniqueName(), spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: "gpt-nonexistent" } }] }) })),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("model 'gpt-nonexistent' is not served by LLMService");
  });

  it("refuses a template variable that only a later step provides", async () => {
    const err = ConnectError.from(
      await failure(() =>
        s.client.createPipeline({
          name: uniqueName(),
          spec: spec({ preprocess: [{ template: { template: "{{greeting}}" } }, { template: { template: "hi", output: "greeting" } }], generate: [{ llmGenerate: { model: MODEL } }] }),
        }),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("variable 'greeting' is not provided");
  });

  it("refuses a generate stage without exactly one step", async () => {
    const err = ConnectError.from(await failure(() => s.client.createPipeline({ name: uniqueName(), spec: spec({ inputVariables: ["prompt"] }) })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("the generate stage needs exactly one step");
  });

  it("refuses names that could escape the data directory", async () => {
    for (const name of ["../etc", "a/b", "..", "", "Upper"]) {
      const err = ConnectError.from(await failure(() => s.client.createPipeline({ name, spec: simple() })));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toContain("pipeline name must be 1-64 characters");
    }
  });

  it("returns ALREADY_EXISTS for a taken name", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple() });
    const err = ConnectError.from(await failure(() => s.client.createPipeline({ name, spec: simple() })));
    expect(err.code).toBe(Code.AlreadyExists);
  });
});

describe("revisions", () => {
  it("makes a new revision on each update and keeps the old ones runnable", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple("v1 {{text}}") });
    const { pipeline } = await s.client.updatePipeline({ name, spec: simple("v2 {{text}}") });
    expect(pipeline!.revision).toBe(2);
    expect((await s.client.getPipeline({ name })).pipeline!.revision).toBe(2);
    expect((await s.client.getPipeline({ name, revision: 1 })).pipeline!.spec!.preprocess[0].kind.value).toMatchObject({ template: "v1 {{text}}" });

    s.upstream.reset();
    const old = await s.client.executePipeline({ name, revision: 1, inputs: { text: "x" } });
    const latest = await s.client.executePipeline({ name, inputs: { text: "x" } });
    expect(old.revision).toBe(1);
    expect(latest.revision).toBe(2);
    const prompts = s.upstream.chatRequests.map((r) => (r.body.messages as { content: string }[])[0].content);
    expect(prompts).toEqual(["v1 x", "v2 x"]);
    expect((await s.client.getRun({ runId: old.runId })).run!.revision).toBe(1);
  });

  it("keeps at most maxRevisions revisions, deleting the oldest", async () => {
    const server = await startPipelineServer({ pipeline: { maxRevisions: 2 } });
    try {
      await server.client.createPipeline({ name: "few", spec: simple("1 {{text}}") });
      await server.client.updatePipeline({ name: "few", spec: simple("2 {{text}}") });
      await server.client.updatePipeline({ name: "few", spec: simple("3 {{text}}") });
      expect(ConnectError.from(await failure(() => server.client.getPipeline({ name: "few", revision: 1 }))).rawMessage).toContain("has no revision 1 (kept: 2-3)");
      expect((await readdir(path.join(server.server.config.dataDir, "pipelines", "few"))).sort()).toEqual(["2.json", "3.json"]);
    } finally {
      await server.close();
    }
  });

  it("refuses an update whose expected revision is not the latest", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple() });
    await s.client.updatePipeline({ name, spec: simple("again {{text}}"), expectedRevision: 1 });
    const err = ConnectError.from(await failure(() => s.client.updatePipeline({ name, spec: simple("stale {{text}}"), expectedRevision: 1 })));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("is at revision 2, not the expected 1");
  });

  it("checks an update like a creation", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple() });
    const err = ConnectError.from(await failure(() => s.client.updatePipeline({ name, spec: simple("{{missing}}") })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect((await s.client.getPipeline({ name })).pipeline!.revision).toBe(1);
  });

  it("returns NOT_FOUND for a revision that does not exist", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple() });
    const err = ConnectError.from(await failure(() => s.client.getPipeline({ name, revision: 9 })));
    expect(err.code).toBe(Code.NotFound);
  });
});

describe("listing and deleting", () => {
  it("lists latest revisions in name order, a page at a time", async () => {
    const server = await startPipelineServer();
    try {
      for (const name of ["c", "a", "b"]) await server.client.createPipeline({ name, spec: simple() });
      await server.client.updatePipeline({ name: "b", spec: simple("b2 {{text}}") });
      const first = await server.client.listPipelines({ pageSize: 2 });
      expect(first.pipelines.map((p) => [p.name, p.revision])).toEqual([["a", 1], ["b", 2]]);
      const second = await server.client.listPipelines({ pageSize: 2, pageToken: first.nextPageToken });
      expect(second.pipelines.map((p) => p.name)).toEqual(["c"]);
      expect(second.nextPageToken).toBe("");
    } finally {
      await server.close();
    }
  });

  it("refuses a pipeline beyond pipeline.maxPipelines with RESOURCE_EXHAUSTED", async () => {
    const server = await startPipelineServer({ pipeline: { maxPipelines: 2 } });
    try {
      await server.client.createPipeline({ name: "one", spec: simple() });
      await server.client.createPipeline({ name: "two", spec: simple() });
      const err = ConnectError.from(await failure(() => server.client.createPipeline({ name: "three", spec: simple() })));
      expect(err.code).toBe(Code.ResourceExhausted);
      await server.client.deletePipeline({ name: "one" });
      await server.client.createPipeline({ name: "three", spec: simple() });
    } finally {
      await server.close();
    }
  });

  it("deletes a pipeline with all its revisions", async () => {
    const name = uniqueName();
    await s.client.createPipeline({ name, spec: simple() });
    await s.client.updatePipeline({ name, spec: simple("x {{text}}") });
    await s.client.deletePipeline({ name });
    expect(ConnectError.from(await failure(() => s.client.getPipeline({ name }))).code).toBe(Code.NotFound);
    expect(ConnectError.from(await failure(() => s.client.deletePipeline({ name }))).code).toBe(Code.NotFound);
    await s.client.createPipeline({ name, spec: simple() });
    expect((await s.client.getPipeline({ name })).pipeline!.revision).toBe(1);
  });
});

describe("durability and the config file", () => {
  let upstream: FakeLlmServer;
  let dataDir: string;
  beforeAll(async () => {
    upstream = await startFakeOpenAI();
    dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-pipeline-"));
  });
  afterAll(async () => {
    await upstream?.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const start = (pipelines: unknown[] = []) =>
    startTestServer({ dataDir, llm: llmConfig(upstream), pipeline: { pipelines } });

  it("keeps pipelines and revisions across a restart, as one JSON file per revision", async () => {
    let server = await start();
    let client = createClient(PipelineService, server.grpc);
    await client.createPipeline({ name: "kept", spec: simple() });
    await client.updatePipeline({ name: "kept", spec: simple("second {{text}}") });
    await server.close();
    expect((await readdir(path.join(dataDir, "pipelines", "kept"))).sort()).toEqual(["1.json", "2.json"]);
    expect(JSON.parse(await readFile(path.join(dataDir, "pipelines", "kept", "2.json"), "utf8")).revision).toBe(2);

    server = await start();
    client = createClient(PipelineService, server.grpc);
    try {
      expect((await client.getPipeline({ name: "kept" })).pipeline!.revision).toBe(2);
      expect((await client.getPipeline({ name: "kept", revision: 1 })).pipeline!.spec!.preprocess[0].kind.value).toMatchObject({ template: "Summarize: {{text}}" });
    } finally {
      await server.close();
    }
  });

  it("creates config-file pipelines, and a new revision only when the definition changed", async () => {
    const def = (template: string) => ({
      name: "from-config",
      description: "defined in openloop.yaml",
      spec: { inputVariables: ["text"], preprocess: [{ template: { template } }], generate: [{ llmGenerate: { model: MODEL } }] },
    });
    for (const [template, revision] of [["A {{text}}", 1], ["A {{text}}", 1], ["B {{text}}", 2]] as const) {
      const server = await start([def(template)]);
      try {
        const client = createClient(PipelineService, server.grpc);
        const { pipeline } = await client.getPipeline({ name: "from-config" });
        expect([pipeline!.revision, pipeline!.description]).toEqual([revision, "defined in openloop.yaml"]);
        upstream.enqueue({ kind: "answer", deltas: ["ok"] });
        const res = await client.executePipeline({ name: "from-config", inputs: { text: "t" } });
        expect(toJson(ValueSchema, res.output!)).toBe("ok");
      } finally {
        await server.close();
      }
    }
  });

  it("refuses to start with a config-file pipeline that has problems, naming them", async () => {
    const bad = { name: "broken", spec: { inputVariables: [], preprocess: [{ template: { template: "{{nothing}}" } }], generate: [{ llmGenerate: { model: MODEL } }] } };
    const err = await failure(() => start([bad]));
    expect((err as Error).message).toContain("pipeline.pipelines[0] 'broken'");
    expect((err as Error).message).toContain("variable 'nothing' is not provided");
  });
});
