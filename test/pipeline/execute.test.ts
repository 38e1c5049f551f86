// ExecutePipeline over real connections: a server whose LLM is a fake OpenAI upstream on loopback.
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PipelineService, RunStatus, Stage } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { failure, lockstep, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

let s: PipelineServer;
beforeAll(async () => {
  s = await startPipelineServer();
});
afterAll(async () => {
  await s?.close();
});
beforeEach(() => s.upstream.reset());

async function create(json: Record<string, unknown>, name = uniqueName()): Promise<string> {
  await s.client.createPipeline({ name, spec: spec(json) });
  return name;
}

const userMessage = (i: number) => {
  const messages = s.upstream.chatRequests[i].body.messages as { role: string; content: string }[];
  return messages.filter((m) => m.role === "user").at(-1)!.content;
};

describe("ExecutePipeline", () => {
  it("renders the template, calls the model and returns the output, timings and run id", async () => {
    const name = await create({
      inputVariables: ["topic", "user"],
      preprocess: [{ template: { template: "Write about {{topic}} for {{user.name}}." } }],
      generate: [{ llmGenerate: { model: MODEL, systemPrompt: "You write for {{user.role}}s." } }],
    });
    s.upstream.enqueue({ kind: "answer", deltas: ["A poem", " about owls."] });
    const res = await s.client.executePipeline({ name, inputs: { topic: "owls", user: { name: "Ada", role: "engineer" } } });
    expect(toJson(ValueSchema, res.output!)).toBe("A poem about owls.");
    expect(res.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.attempts).toBe(1);
    expect(res.timings.map((t) => t.stage)).toEqual([Stage.PREPROCESS, Stage.GENERATE, Stage.POSTPROCESS, Stage.VALIDATE]);
    expect(res.timings.every((t) => t.durationMs >= 0 && t.attempt === 1)).toBe(true);
    const body = s.upstream.chatRequests[0].body;
    expect(body.model).toBe("fake-model-a");
    expect(body.messages).toEqual([
      { role: "system", content: "You write for engineers." },
      { role: "user", content: "Write about owls for Ada." },
    ]);
  });

  it("passes generation parameters to the upstream", async () => {
    const name = await create({
      inputVariables: ["prompt"],
      generate: [{ llmGenerate: { model: MODEL, maxTokens: 7, temperature: 0.5, topP: 0.9, stop: ["END"], seed: "42" } }],
    });
    await s.client.executePipeline({ name, inputs: { prompt: "hi" } });
    const body = s.upstream.chatRequests[0].body;
    expect(body.max_tokens ?? body.max_completion_tokens).toBe(7);
    expect(body.temperature).toBe(0.5);
    expect(body.top_p).toBe(0.9);
    expect(body.stop).toEqual(["END"]);
    expect(body.seed).toBe(42);
  });

  it("fails with INVALID_ARGUMENT naming missing and unknown input variables", async () => {
    const name = await create({ inputVariables: ["topic", "tone"], preprocess: [{ template: { template: "{{topic}} {{tone}}" } }], generate: [{ llmGenerate: { model: MODEL } }] });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { topic: "x", tnoe: "dry" } })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("missing input variables: tone");
    expect(err.rawMessage).toContain("unknown input variables: tnoe");
    expect(s.upstream.chatRequests).toHaveLength(0);
  });

  it("fails with INVALID_ARGUMENT when a template path has no value in the inputs", async () => {
    const name = await create({ inputVariables: ["user"], preprocess: [{ template: { template: "Hi {{user.name}}" } }], generate: [{ llmGenerate: { model: MODEL } }] });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { user: { id: 1 } } })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("'user.name'");
  });

  it("returns NOT_FOUND for an unknown pipeline", async () => {
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name: "no-such-pipeline", inputs: {} })));
    expect(err.code).toBe(Code.NotFound);
  });

  it("passes an upstream failure on with the step named", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "error", status: 400, message: "context too long" });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { prompt: "hi" } })));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^generate step 'llm_generate': /);
  });

  it("records the run for GetRun with input, output, timings and attempts", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "answer", deltas: ["fine"] });
    const res = await s.client.executePipeline({ name, inputs: { prompt: "how are you" } });
    const { run } = await s.client.getRun({ runId: res.runId });
    expect(run!.pipeline).toBe(name);
    expect(run!.revision).toBe(1);
    expect(run!.status).toBe(RunStatus.SUCCEEDED);
    expect(run!.inputs).toEqual({ prompt: "how are you" });
    expect(toJson(ValueSchema, run!.output!)).toBe("fine");
    expect(run!.attempts).toBe(1);
    expect(run!.timings).toHaveLength(4);
    expect(run!.error).toBe("");
    expect(run!.finishTime).toBeDefined();
  });

  it("records a failed run with its error for GetRun", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "error", status: 400, message: "bad" });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { prompt: "x" } })));
    const runId = err.metadata.get("openloop-run-id");
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const { run } = await s.client.getRun({ runId: runId! });
    expect(run!.status).toBe(RunStatus.FAILED);
    expect(run!.error).toMatch(/^INVALID_ARGUMENT: generate step/);
    expect(run!.output).toBeUndefined();
  });

  it("returns NOT_FOUND from GetRun for an unknown run id", async () => {
    const err = ConnectError.from(await failure(() => s.client.getRun({ runId: "00000000-0000-0000-0000-000000000000" })));
    expect(err.code).toBe(Code.NotFound);
  });

  it("runs over the Connect protocol on HTTP/1.1, streaming included, with the run id header", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    const client = createClient(PipelineService, s.server.connect);
    let header: string | null = null;
    const step = lockstep();
    s.upstream.enqueue({ kind: "answer", deltas: ["one"] }, { kind: "answer", deltas: ["t", "wo"], deltaGate: step.deltaGate });
    const res = await client.executePipeline({ name, inputs: { prompt: "q" } }, { onHeader: (h) => (header = h.get("openloop-run-id")) });
    expect(header).toBe(res.runId);
    const deltas: string[] = [];
    let streamHeader: string | null = null;
    let started = "";
    for await (const e of client.executePipelineStream({ name, inputs: { prompt: "q" } }, { onHeader: (h) => (streamHeader = h.get("openloop-run-id")) })) {
      if (e.event.case === "runStarted") started = e.event.value.runId;
      if (e.event.case !== "textDelta") continue;
      deltas.push(e.event.value);
      step.seen();
    }
    expect(deltas).toEqual(["t", "wo"]);
    expect(streamHeader).toBe(started);
  });
});

describe("kept runs", () => {
  it("keeps at most runs.maxCount runs, dropping the least recently used", async () => {
    const small = await startPipelineServer({ pipeline: { runs: { maxCount: 2, ttlMs: 60_000 } } });
    try {
      await small.client.createPipeline({ name: "p", spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] }) });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await small.client.executePipeline({ name: "p", inputs: { prompt: "q" } })).runId);
      expect(ConnectError.from(await failure(() => small.client.getRun({ runId: ids[0] }))).code).toBe(Code.NotFound);
      expect((await small.client.getRun({ runId: ids[2] })).run!.runId).toBe(ids[2]);
    } finally {
      await small.close();
    }
  });

  it("forgets a run once runs.ttlMs has passed since it ended", async () => {
    const small = await startPipelineServer({ pipeline: { runs: { maxCount: 100, ttlMs: 1_000 } } });
    try {
      await small.client.createPipeline({ name: "p", spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] }) });
      const { runId } = await small.client.executePipeline({ name: "p", inputs: { prompt: "q" } });
      await sleep(1_100);
      expect(ConnectError.from(await failure(() => small.client.getRun({ runId }))).code).toBe(Code.NotFound);
    } finally {
      await small.close();
    }
  });
});
