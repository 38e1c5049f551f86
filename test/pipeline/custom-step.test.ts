// Custom steps registered by a program that embeds openloop, used by name in pipelines over gRPC.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { parseConfig } from "../../src/config.js";
import { builtinSteps, StepFailure, type StepDefinition } from "../../src/pipeline/index.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import type { FakeLlmServer } from "../support/fake-llm-http.js";
import { failure, llmConfig, MODEL, spec } from "./helpers.js";

/** Replaces words from a list with asterisks; a program's own postprocess step. */
const censor: StepDefinition<{ input: string; words: RegExp }> = {
  name: "censor",
  stage: "postprocess",
  validateConfig: (config) => {
    const problems: string[] = [];
    if (!Array.isArray(config.words) || config.words.length === 0 || !config.words.every((w) => typeof w === "string" && /^\w+$/.test(w))) {
      problems.push("words must be a non-empty list of words");
    }
    if (config.input !== undefined && typeof config.input !== "string") problems.push("input must be a variable name");
    return problems;
  },
  prepare: (config) => ({ input: (config.input as string | undefined) ?? "text", words: new RegExp(`\\b(${(config.words as string[]).join("|")})\\b`, "gi") }),
  reads: (config) => [(config.input as string | undefined) ?? "text"],
  writes: (config) => [(config.input as string | undefined) ?? "text"],
  run(state, c) {
    state.vars[c.input] = String(state.vars[c.input]).replace(c.words, (w) => "*".repeat(w.length));
  },
};

/** Refuses texts that shout; its refusal re-asks the model like a built-in validator's. */
const noShouting: StepDefinition = {
  name: "no_shouting",
  stage: "validate",
  validateConfig: () => [],
  reads: () => ["text"],
  run(state) {
    const text = String(state.vars.text);
    if (text === text.toUpperCase()) throw new StepFailure("the answer is all capitals; write in sentence case");
  },
};

let upstream: FakeLlmServer;
let server: RunningServer;
let dataDir: string;
let sessions: Http2SessionManager;
let client: ReturnType<typeof createClient<typeof PipelineService>>;

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-custom-step-"));
  const config = parseConfig({ dataDir, server: { host: "127.0.0.1", port: 0 }, log: { level: "silent" }, llm: llmConfig(upstream) });
  const fragile: StepDefinition = {
    name: "fragile",
    stage: "postprocess",
    validateConfig: () => [],
    prepare: () => {
      throw new Error("cannot load the word list");
    },
    run: () => undefined,
  };
  const steps = builtinSteps().registerStep(censor).registerStep(noShouting).registerStep(fragile);
  server = await startServer(config, { log: pino({ level: "silent" }), extensions: { pipelineSteps: steps } });
  sessions = new Http2SessionManager(server.url);
  client = createClient(PipelineService, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
});
afterAll(async () => {
  sessions?.abort();
  await server?.close();
  await upstream?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("custom steps", () => {
  it("runs registered steps by name, in their stages, re-asking on their refusal", async () => {
    await client.createPipeline({
      name: "polite",
      spec: spec({
        inputVariables: ["prompt"],
        generate: [{ llmGenerate: { model: MODEL } }],
        postprocess: [{ custom: { type: "censor", config: { words: ["darn", "heck"] } } }],
        validate: [{ custom: { type: "no_shouting" } }],
        maxAttempts: 2,
      }),
    });
    upstream.enqueue({ kind: "answer", deltas: ["OH HECK"] }, { kind: "answer", deltas: ["Oh darn, it rained."] });
    const res = await client.executePipeline({ name: "polite", inputs: { prompt: "weather?" } });
    expect(toJson(ValueSchema, res.output!)).toBe("Oh ****, it rained.");
    expect(res.attempts).toBe(2);
    const reask = (upstream.chatRequests[1].body.messages as { content: string }[]).at(-1)!.content;
    expect(reask).toContain("rejected by the check 'no_shouting': the answer is all capitals");
    const { pipeline } = await client.getPipeline({ name: "polite" });
    expect(pipeline!.spec!.postprocess[0].kind).toEqual({ case: "custom", value: expect.objectContaining({ type: "censor", config: { words: ["darn", "heck"] } }) });
  });

  it("reports a custom step's own config problems and a step in the wrong stage at creation", async () => {
    const err = ConnectError.from(
      await failure(() =>
        client.createPipeline({
          name: "bad-custom",
          spec: spec({
            inputVariables: ["prompt"],
            preprocess: [{ custom: { type: "no_shouting" } }],
            generate: [{ llmGenerate: { model: MODEL } }],
            postprocess: [{ custom: { type: "censor", config: { words: [] } } }],
          }),
        }),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("preprocess step 1 (no_shouting): 'no_shouting' is a validate step and cannot run in the preprocess stage");
    expect(err.rawMessage).toContain("postprocess step 1 (censor): words must be a non-empty list of words");
  });

  it("reports a custom step that throws while preparing its settings as a problem, not an internal error", async () => {
    const err = ConnectError.from(
      await failure(() =>
        client.createPipeline({
          name: "fragile-one",
          spec: spec({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL } }], postprocess: [{ custom: { type: "fragile" } }] }),
        }),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("postprocess step 1 (fragile): prepare threw: cannot load the word list");
  });

  it("refuses to register a step under a taken or malformed name", () => {
    const steps = builtinSteps();
    expect(() => steps.registerStep({ ...censor, name: "trim" })).toThrow("step 'trim' is already registered");
    expect(() => steps.registerStep({ ...censor, name: "Bad Name" })).toThrow("step name must be 1-64 characters");
    expect(() => steps.registerStep({ ...censor, name: "odd", stage: "later" as never })).toThrow("stage must be one of preprocess, generate, postprocess, validate");
  });
});
