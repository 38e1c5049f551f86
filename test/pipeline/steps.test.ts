// Every built-in step type, in real pipelines over real connections. The LLM is a fake OpenAI
// upstream; features and predictions come from this server's own FeatureService and FeedbackService.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { failure, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

let s: PipelineServer;
beforeAll(async () => {
  s = await startPipelineServer();
});
afterAll(async () => {
  await s?.close();
});
beforeEach(() => s.upstream.reset());

/** Creates a pipeline and runs it once; the model answers `answer` (in pieces when it is an array). */
async function run(json: Record<string, unknown>, inputs: Record<string, unknown>, answer?: string | string[]) {
  const name = uniqueName("step");
  await s.client.createPipeline({ name, spec: spec(json) });
  if (answer !== undefined) s.upstream.enqueue({ kind: "answer", deltas: Array.isArray(answer) ? answer : [answer] });
  const res = await s.client.executePipeline({ name, inputs: inputs as never });
  return toJson(ValueSchema, res.output!);
}

async function runFails(json: Record<string, unknown>, inputs: Record<string, unknown>, answer?: string) {
  return ConnectError.from(await failure(() => run(json, inputs, answer)));
}

const sentPrompt = () => {
  const messages = s.upstream.chatRequests.at(-1)!.body.messages as { role: string; content: string }[];
  return messages.find((m) => m.role === "user")!.content;
};

const llm = { llmGenerate: { model: MODEL } };

describe("preprocess steps", () => {
  it("template writes into a named variable that a later template uses", async () => {
    await run(
      { inputVariables: ["a"], preprocess: [{ template: { template: "<{{a}}>", output: "wrapped" } }, { template: { template: "say {{wrapped}}" } }], generate: [llm] },
      { a: "x" },
    );
    expect(sentPrompt()).toBe("say <x>");
  });

  it("template writes numbers, booleans, null, lists and objects as text", async () => {
    await run(
      { inputVariables: ["v"], preprocess: [{ template: { template: "{{v.n}}|{{v.b}}|{{v.z}}|{{v.l}}|{{v.l.1}}|{{v.o}}" } }], generate: [llm] },
      { v: { n: 2.5, b: true, z: null, l: ["p", "q"], o: { k: 1 } } },
    );
    expect(sentPrompt()).toBe('2.5|true||["p","q"]|q|{"k":1}');
  });

  it("feature_lookup reads an entity's features from FeatureService into the variables", async () => {
    const features = createClient(FeatureService, s.server.grpc);
    await features.createFeatureSet({
      featureSet: {
        name: "users",
        features: [
          { name: "age", type: FeatureType.INT64 },
          { name: "plan", type: FeatureType.STRING },
        ],
      },
    });
    await features.putFeatures({ featureSet: "users", entityKey: "u-7", features: { age: { kind: { case: "int64Value", value: 41n } }, plan: { kind: { case: "stringValue", value: "pro" } } } });
    await run(
      {
        inputVariables: ["user_id"],
        preprocess: [
          { featureLookup: { featureSet: "users", entityKey: "u-{{user_id}}", output: "user" } },
          { template: { template: "age {{user.age}}, plan {{user.plan}}" } },
        ],
        generate: [llm],
      },
      { user_id: "7" },
    );
    expect(sentPrompt()).toBe("age 41, plan pro");
  });

  it("feature_lookup gives an empty object for an unknown entity unless required", async () => {
    const features = createClient(FeatureService, s.server.grpc);
    await features.createFeatureSet({ featureSet: { name: "items", features: [{ name: "price", type: FeatureType.DOUBLE }] } });
    const pipeline = (required: boolean) => ({
      inputVariables: ["id"],
      preprocess: [{ featureLookup: { featureSet: "items", entityKey: "{{id}}", required } }, { template: { template: "features: {{features}}" } }],
      generate: [llm],
    });
    await run(pipeline(false), { id: "nope" });
    expect(sentPrompt()).toBe("features: {}");
    const err = await runFails(pipeline(true), { id: "nope" });
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("no features stored for entity 'nope'");
  });

  it("redact masks e-mail addresses and phone numbers but leaves dates and amounts", async () => {
    await run(
      { inputVariables: ["prompt"], preprocess: [{ redact: {} }], generate: [llm] },
      { prompt: "Mail ada.l@example.co.uk or call +44 20 7946 0958 / (555) 123-4567 before 2024-05-01; total 1234.50" },
    );
    expect(sentPrompt()).toBe("Mail [REDACTED] or call [REDACTED] / [REDACTED] before 2024-05-01; total 1234.50");
  });

  it("redact masks only what it is told to, with its replacement", async () => {
    await run({ inputVariables: ["prompt"], preprocess: [{ redact: { phones: true, replacement: "***" } }], generate: [llm] }, { prompt: "a@b.io 555-123-4567" });
    expect(sentPrompt()).toBe("a@b.io ***");
  });

  it("redact masks every string inside an object variable", async () => {
    await run(
      { inputVariables: ["ticket"], preprocess: [{ redact: { input: "ticket" } }, { template: { template: "{{ticket.from}} {{ticket.cc.0}}" } }], generate: [llm] },
      { ticket: { from: "x@y.org", cc: ["z@w.net"] } },
    );
    expect(sentPrompt()).toBe("[REDACTED] [REDACTED]");
  });

  it("truncate cuts to a character budget, counting code points", async () => {
    await run({ inputVariables: ["prompt"], preprocess: [{ truncate: { maxChars: 5 } }], generate: [llm] }, { prompt: "🦉🦉🦉abcdef" });
    expect(sentPrompt()).toBe("🦉🦉🦉ab");
  });

  it("truncate converts a token budget at 4 characters a token", async () => {
    await run({ inputVariables: ["prompt"], preprocess: [{ truncate: { maxTokens: 2 } }], generate: [llm] }, { prompt: "0123456789abcdef" });
    expect(sentPrompt()).toBe("01234567");
  });
});

describe("generate steps", () => {
  it("llm_generate writes its text to a named variable", async () => {
    const out = await run({ inputVariables: ["prompt"], generate: [{ llmGenerate: { model: MODEL, output: "answer" } }], outputVariable: "answer" }, { prompt: "q" }, "42");
    expect(out).toBe("42");
  });

  it("predict calls an online model of FeedbackService with an object of features", async () => {
    const feedback = createClient(FeedbackService, s.server.grpc);
    await feedback.createOnlineModel({ name: "churn", task: Task.BINARY_CLASSIFICATION });
    const out = (await run(
      { inputVariables: ["features"], generate: [{ predict: { model: "churn" } }] },
      { features: { tenure: 3, plan: "pro", active: true } },
    )) as Record<string, unknown>;
    // An untrained logistic model has zero weights: probability 0.5, label true.
    expect(out.value).toBe(0.5);
    expect(out.label).toBe(true);
    expect(out.prediction_id).toMatch(/.+/);
    expect(out.model_version).toMatch(/.+/);
  });

  it("predict sends numbers as int64 where featureTypes says so, as a typed feature set needs", async () => {
    const features = createClient(FeatureService, s.server.grpc);
    const feedback = createClient(FeedbackService, s.server.grpc);
    await features.createFeatureSet({ featureSet: { name: "customers", features: [{ name: "age", type: FeatureType.INT64 }, { name: "spend", type: FeatureType.DOUBLE }] } });
    await feedback.createOnlineModel({ name: "ltv", task: Task.REGRESSION, featureSet: "customers" });
    const pipeline = (featureTypes?: Record<string, string>) => ({ inputVariables: ["features"], generate: [{ predict: { model: "ltv", ...(featureTypes && { featureTypes }) } }] });
    const out = (await run(pipeline({ age: "FEATURE_TYPE_INT64" }), { features: { age: 41, spend: 12 } })) as Record<string, unknown>;
    expect(out.value).toBe(0);
    // Sent as a double, the whole number 41 is refused by the feature set's int64 type.
    const err = await runFails(pipeline(), { features: { age: 41, spend: 12 } });
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("age");
  });

  it("predict passes NOT_FOUND on for an unknown online model", async () => {
    const err = await runFails({ inputVariables: ["features"], generate: [{ predict: { model: "no-such-model" } }] }, { features: { x: 1 } });
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toMatch(/^generate step 'predict': /);
  });
});

describe("postprocess steps", () => {
  it("trim removes white space around the text", async () => {
    expect(await run({ inputVariables: ["prompt"], generate: [llm], postprocess: [{ trim: {} }] }, { prompt: "q" }, "  \n yes \t\n")).toBe("yes");
  });

  it("extract_json finds JSON in a code fence, after prose", async () => {
    const answer = 'Sure! Here it is:\n```json\n{"name": "Ada", "tags": ["x"]}\n```\nAnything else?';
    expect(await run({ inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: {} }] }, { prompt: "q" }, answer)).toEqual({ name: "Ada", tags: ["x"] });
  });

  it("extract_json finds the first balanced object in prose, with braces inside strings", async () => {
    const answer = 'The result is {"a": "}{", "b": [1, {"c": null}]} as asked.';
    expect(await run({ inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: {} }] }, { prompt: "q" }, answer)).toEqual({ a: "}{", b: [1, { c: null }] });
  });

  it("extract_json refuses a text without JSON with FAILED_PRECONDITION", async () => {
    const err = await runFails({ inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: {} }] }, { prompt: "q" }, "no json {here");
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("postprocess step 'extract_json' refused the output: no JSON object or array found in text");
  });

  it("regex_extract writes the named groups of the first match", async () => {
    const out = await run(
      { inputVariables: ["prompt"], generate: [llm], postprocess: [{ regexExtract: { pattern: "total: (?<amount>\\d+(?:\\.\\d+)?) (?<currency>[A-Z]{3})(?<note> \\(est\\))?", flags: "i" } }] },
      { prompt: "q" },
      "Your TOTAL: 12.50 EUR today",
    );
    expect(out).toEqual({ amount: "12.50", currency: "EUR", note: null });
  });

  it("map_fields builds an object from paths into variables", async () => {
    const out = await run(
      {
        inputVariables: ["prompt", "meta"],
        generate: [llm],
        postprocess: [{ extractJson: { output: "parsed" } }, { mapFields: { fields: { title: "parsed.headline", first_tag: "parsed.tags.0", source: "meta.source" } } }],
      },
      { prompt: "q", meta: { source: "wire" } },
      '{"headline": "Owls", "tags": ["birds", "night"]}',
    );
    expect(out).toEqual({ title: "Owls", first_tag: "birds", source: "wire" });
  });

  it("map_fields refuses output that lacks a mapped field", async () => {
    const err = await runFails(
      { inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: { output: "parsed" } }, { mapFields: { fields: { title: "parsed.headline" } } }] },
      { prompt: "q" },
      '{"title": "x"}',
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("missing fields: title (from parsed.headline)");
  });
});

describe("validate steps", () => {
  const schema = { type: "object", required: ["age", "email"], properties: { age: { type: "integer", minimum: 0 }, email: { type: "string", format: "email" } } };
  const jsonPipeline = { inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: {} }], validate: [{ jsonSchema: { schema } }] };

  it("json_schema accepts a valid output", async () => {
    expect(await run(jsonPipeline, { prompt: "q" }, '{"age": 3, "email": "a@b.io"}')).toEqual({ age: 3, email: "a@b.io" });
  });

  it("json_schema refuses an invalid output with FAILED_PRECONDITION naming the validator and every error", async () => {
    const err = await runFails(jsonPipeline, { prompt: "q" }, '{"age": -1.5, "email": "nope"}');
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("validator 'json_schema' refused the output");
    expect(err.rawMessage).toContain("output/age must be integer");
    expect(err.rawMessage).toContain('output/email must match format "email"');
  });

  it("regex_match accepts a matching text and refuses another", async () => {
    const pipeline = { inputVariables: ["prompt"], generate: [llm], validate: [{ name: "yes-or-no", regexMatch: { pattern: "^(yes|no)$", flags: "i" } }] };
    expect(await run(pipeline, { prompt: "q" }, "YES")).toBe("YES");
    const err = await runFails(pipeline, { prompt: "q" }, "maybe");
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe(`validator 'yes-or-no' refused the output: text "maybe" does not match /^(yes|no)$/`);
  });

  it("regex_match with a catastrophically backtracking pattern still answers", async () => {
    // On a backtracking engine alone, ^(a+)+$ against 40 a's and a b takes about 2^40 steps.
    const pipeline = { inputVariables: ["prompt"], generate: [llm], validate: [{ name: "only-a", regexMatch: { pattern: "^(a+)+$" } }] };
    const err = await runFails(pipeline, { prompt: "q" }, `${"a".repeat(40)}b`);
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("validator 'only-a' refused the output");
    expect(await run(pipeline, { prompt: "q" }, "aaa")).toBe("aaa");
  });

  it("regex_match stops a catastrophically backtracking case-insensitive pattern at its time limit", async () => {
    // The linear-time engine does not take the i flag, so this match runs under a time limit.
    const pipeline = { inputVariables: ["prompt"], generate: [llm], validate: [{ name: "only-a", regexMatch: { pattern: "^(a+)+$", flags: "i" } }] };
    const err = await runFails(pipeline, { prompt: "q" }, `${"a".repeat(40)}b`);
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("the pattern /^(a+)+$/ took over 100 ms");
    expect(await run(pipeline, { prompt: "q" }, "AAA")).toBe("AAA");
  });

  it("length checks characters of a text and elements of a list", async () => {
    const text = { inputVariables: ["prompt"], generate: [llm], validate: [{ length: { min: 2, max: 4 } }] };
    expect(await run(text, { prompt: "q" }, "abcd")).toBe("abcd");
    expect((await runFails(text, { prompt: "q" }, "abcde")).rawMessage).toContain("text has 5 characters, more than the maximum 4");
    const list = { inputVariables: ["prompt"], generate: [llm], postprocess: [{ extractJson: {} }], validate: [{ length: { input: "output", min: 2 } }] };
    expect((await runFails(list, { prompt: "q" }, "[1]")).rawMessage).toContain("output has 1 elements, fewer than the minimum 2");
  });

  it("allowed_values accepts one of the values, ignoring case when asked", async () => {
    const pipeline = { inputVariables: ["prompt"], generate: [llm], postprocess: [{ trim: {} }], validate: [{ allowedValues: { values: ["positive", "negative"], ignoreCase: true } }] };
    expect(await run(pipeline, { prompt: "q" }, " Positive\n")).toBe("Positive");
    const err = await runFails(pipeline, { prompt: "q" }, "neutral");
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain('text "neutral" is not one of "positive", "negative"');
  });
});
