// A pipeline that generates with the embedded SmolLM2-135M model (in-process llama.cpp), end to end over gRPC.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PipelineService, RunStatus } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { EMBEDDED_MODEL_ID } from "../../src/llm/config.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { spec } from "./helpers.js";

let server: TestServer;
let client: ReturnType<typeof createClient<typeof PipelineService>>;

beforeAll(async () => {
  // The same fetch the start command does; a no-op when the verified file is already there.
  execFileSync("bash", [path.resolve("scripts/fetch-model.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  // No llm section: the embedded default catalog serves smollm2-135m-instruct.
  server = await startTestServer({});
  client = createClient(PipelineService, server.grpc);
  await client.createPipeline({
    name: "local-capital",
    spec: spec({
      inputVariables: ["country"],
      preprocess: [{ template: { template: "What is the capital of {{country}}? Answer in one word." } }],
      generate: [{ llmGenerate: { model: EMBEDDED_MODEL_ID, systemPrompt: "You are a terse assistant.", maxTokens: 8, temperature: 0, seed: "7" } }],
      postprocess: [{ trim: {} }],
      validate: [{ length: { min: 1, max: 200 } }],
    }),
  });
});

afterAll(async () => {
  await server?.close();
});

describe("a pipeline on the embedded local model", () => {
  it("generates an answer through every stage", async () => {
    const res = await client.executePipeline({ name: "local-capital", inputs: { country: "France" } });
    const output = toJson(ValueSchema, res.output!) as string;
    expect(typeof output).toBe("string");
    expect(output.length).toBeGreaterThan(0);
    expect(output).toBe(output.trim());
    expect((await client.getRun({ runId: res.runId })).run!.status).toBe(RunStatus.SUCCEEDED);
  });

  it("streams the model's text deltas, which make up the output", async () => {
    const deltas: string[] = [];
    let output: unknown;
    for await (const e of client.executePipelineStream({ name: "local-capital", inputs: { country: "Japan" } })) {
      if (e.event.case === "textDelta") deltas.push(e.event.value);
      if (e.event.case === "runFinished") output = toJson(ValueSchema, e.event.value.output!);
    }
    expect(deltas.length).toBeGreaterThan(0);
    expect(output).toBe(deltas.join("").trim());
  });
});
