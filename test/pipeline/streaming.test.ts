// Re-asks, streamed runs and cancellation, over real connections with a scripted fake OpenAI upstream.
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RunStatus, Stage, type ExecutePipelineStreamResponse } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { failure, lockstep, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

let s: PipelineServer;
beforeAll(async () => {
  s = await startPipelineServer();
});
afterAll(async () => {
  await s?.close();
});
beforeEach(() => s.upstream.reset());

const jsonPipeline = (maxAttempts: number) => ({
  inputVariables: ["prompt"],
  generate: [{ llmGenerate: { model: MODEL, systemPrompt: "Answer in JSON." } }],
  postprocess: [{ extractJson: {} }],
  validate: [{ name: "person", jsonSchema: { schema: { type: "object", required: ["age"], properties: { age: { type: "integer" } } } } }],
  maxAttempts,
});

async function create(json: Record<string, unknown>): Promise<string> {
  const name = uniqueName("stream");
  await s.client.createPipeline({ name, spec: spec(json) });
  return name;
}

/** A compact, comparable form of stream events. */
function describeEvent(e: ExecutePipelineStreamResponse): string {
  const ev = e.event;
  switch (ev.case) {
    case "runStarted":
      return "run_started";
    case "stageStarted":
      return `start ${Stage[ev.value.stage]} ${ev.value.attempt}`;
    case "stageFinished":
      return `end ${Stage[ev.value.stage]} ${ev.value.attempt}${ev.value.validationError ? ` refused: ${ev.value.validationError}` : ""}`;
    case "textDelta":
      return `delta ${ev.value}`;
    case "runFinished":
      return `run_finished ${JSON.stringify(toJson(ValueSchema, ev.value.output!))} attempts ${ev.value.attempts}`;
    default:
      return "unknown";
  }
}

describe("re-asking after a refused output", () => {
  it("re-runs generate with the refused answer and the error appended, then succeeds", async () => {
    const name = await create(jsonPipeline(3));
    s.upstream.enqueue({ kind: "answer", deltas: ['{"age": "forty"}'] }, { kind: "answer", deltas: ['{"age": 40}'] });
    const res = await s.client.executePipeline({ name, inputs: { prompt: "How old is Ada?" } });
    expect(toJson(ValueSchema, res.output!)).toEqual({ age: 40 });
    expect(res.attempts).toBe(2);
    expect(res.timings.map((t) => `${Stage[t.stage]} ${t.attempt}`)).toEqual([
      "PREPROCESS 1",
      "GENERATE 1",
      "POSTPROCESS 1",
      "VALIDATE 1",
      "GENERATE 2",
      "POSTPROCESS 2",
      "VALIDATE 2",
    ]);
    const second = s.upstream.chatRequests[1].body.messages as { role: string; content: string }[];
    expect(second.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(second[1].content).toBe("How old is Ada?");
    expect(second[2].content).toBe('{"age": "forty"}');
    expect(second[3].content).toContain("rejected by the check 'person'");
    expect(second[3].content).toContain("output/age must be integer");
  });

  it("fails with FAILED_PRECONDITION naming the validator once the attempts are used up", async () => {
    const name = await create(jsonPipeline(2));
    s.upstream.enqueue({ kind: "answer", deltas: ['{"age": "forty"}'] }, { kind: "answer", deltas: ['{"age": 40.5}'] });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { prompt: "q" } })));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("validator 'person' refused the output after 2 attempts: output does not match the JSON Schema: output/age must be integer");
    expect(s.upstream.chatRequests).toHaveLength(2);
    const { run } = await s.client.getRun({ runId: err.metadata.get("openloop-run-id")! });
    expect(run!.status).toBe(RunStatus.FAILED);
    expect(run!.attempts).toBe(2);
    expect(run!.error).toContain("FAILED_PRECONDITION: validator 'person'");
  });

  it("re-asks after a postprocess refusal too", async () => {
    const name = await create(jsonPipeline(2));
    s.upstream.enqueue({ kind: "answer", deltas: ["I cannot answer in JSON."] }, { kind: "answer", deltas: ['{"age": 1}'] });
    const res = await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    expect(res.attempts).toBe(2);
    expect((s.upstream.chatRequests[1].body.messages as { content: string }[]).at(-1)!.content).toContain("no JSON object or array found");
  });
});

describe("ExecutePipelineStream", () => {
  it("streams run and stage events in order with the text deltas as they arrive", async () => {
    const name = await create({
      inputVariables: ["topic"],
      preprocess: [{ template: { template: "One word on {{topic}}" } }],
      generate: [{ llmGenerate: { model: MODEL } }],
      postprocess: [{ trim: {} }],
      validate: [{ length: { max: 20 } }],
    });
    const step = lockstep();
    s.upstream.enqueue({ kind: "answer", deltas: [" Hoo", "t! "], deltaGate: step.deltaGate });
    const events: string[] = [];
    let runId = "";
    for await (const e of s.client.executePipelineStream({ name, inputs: { topic: "owls" } })) {
      if (e.event.case === "runStarted") runId = e.event.value.runId;
      if (e.event.case === "textDelta") step.seen();
      events.push(describeEvent(e));
    }
    expect(events).toEqual([
      "run_started",
      "start PREPROCESS 1",
      "end PREPROCESS 1",
      "start GENERATE 1",
      "delta  Hoo",
      "delta t! ",
      "end GENERATE 1",
      "start POSTPROCESS 1",
      "end POSTPROCESS 1",
      "start VALIDATE 1",
      "end VALIDATE 1",
      'run_finished "Hoot!" attempts 1',
    ]);
    expect(s.upstream.chatRequests[0].body.stream).toBe(true);
    expect((await s.client.getRun({ runId })).run!.status).toBe(RunStatus.SUCCEEDED);
  });

  it("streams a re-ask: the refused validate stage carries the error, then generate runs again", async () => {
    const name = await create(jsonPipeline(2));
    const step = lockstep();
    s.upstream.enqueue({ kind: "answer", deltas: ['{"age": ', '"x"}'], deltaGate: step.deltaGate }, { kind: "answer", deltas: ['{"age": 3}'] });
    const events: string[] = [];
    for await (const e of s.client.executePipelineStream({ name, inputs: { prompt: "q" } })) {
      if (e.event.case === "textDelta") step.seen();
      events.push(describeEvent(e));
    }
    expect(events).toEqual([
      "run_started",
      "start PREPROCESS 1",
      "end PREPROCESS 1",
      "start GENERATE 1",
      'delta {"age": ',
      'delta "x"}',
      "end GENERATE 1",
      "start POSTPROCESS 1",
      "end POSTPROCESS 1",
      "start VALIDATE 1",
      "end VALIDATE 1 refused: output does not match the JSON Schema: output/age must be integer",
      "start GENERATE 2",
      'delta {"age": 3}',
      "end GENERATE 2",
      "start POSTPROCESS 2",
      "end POSTPROCESS 2",
      "start VALIDATE 2",
      "end VALIDATE 2",
      'run_finished {"age":3} attempts 2',
    ]);
  });

  it("ends the stream with the run's error status when the run fails", async () => {
    const name = await create(jsonPipeline(1));
    s.upstream.enqueue({ kind: "answer", deltas: ["nothing"] });
    const events: string[] = [];
    const err = ConnectError.from(
      await failure(async () => {
        for await (const e of s.client.executePipelineStream({ name, inputs: { prompt: "q" } })) events.push(describeEvent(e));
      }),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(events.at(-1)).toBe("end POSTPROCESS 1");
  });
});

describe("cancellation", () => {
  it("cancelling a streamed run cancels the generation upstream and records the run as cancelled", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "hang" });
    const abort = new AbortController();
    let runId = "";
    const err = ConnectError.from(
      await failure(async () => {
        for await (const e of s.client.executePipelineStream({ name, inputs: { prompt: "q" } }, { signal: abort.signal })) {
          if (e.event.case === "runStarted") runId = e.event.value.runId;
          if (e.event.case === "stageStarted" && e.event.value.stage === Stage.GENERATE) {
            await s.upstream.until(() => s.upstream.chatRequests.length === 1);
            abort.abort();
          }
        }
      }),
    );
    expect(err.code).toBe(Code.Canceled);
    await s.upstream.until(() => s.upstream.clientAborts === 1);
    await expect.poll(async () => (await s.client.getRun({ runId })).run!.status).toBe(RunStatus.CANCELLED);
  });

  it("cancelling a unary run cancels the generation upstream", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "hang" });
    const abort = new AbortController();
    const call = s.client.executePipeline({ name, inputs: { prompt: "q" } }, { signal: abort.signal });
    await s.upstream.until(() => s.upstream.chatRequests.length === 1);
    abort.abort();
    expect(ConnectError.from(await failure(() => call)).code).toBe(Code.Canceled);
    await s.upstream.until(() => s.upstream.clientAborts === 1);
  });

  it("a run past its deadline fails with DEADLINE_EXCEEDED and stops the upstream call", async () => {
    const name = await create({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }] });
    s.upstream.enqueue({ kind: "hang" });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { prompt: "q" } }, { timeoutMs: 300 })));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await s.upstream.until(() => s.upstream.clientAborts === 1);
  });
});
