// Webhooks delivered to a real HTTP receiver on loopback: payloads, retries, never blocking, required hooks.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebhookReceiver } from "../support/pipeline-webhook.js";
import { failure, MODEL, spec, startPipelineServer, uniqueName, type PipelineServer } from "./helpers.js";

let s: PipelineServer;
let receiver: WebhookReceiver;
// The receiver is on loopback, which hooks may only reach when allowed.
const LOOPBACK_ALLOWED = { initialBackoffMs: 10, maxBackoffMs: 40, timeoutMs: 2_000, allowCidrs: ["127.0.0.0/8"] };

beforeAll(async () => {
  s = await startPipelineServer({ pipeline: { hooks: LOOPBACK_ALLOWED } });
  receiver = await WebhookReceiver.start();
});
afterAll(async () => {
  await s?.close();
  await receiver?.close();
});
beforeEach(() => {
  s.upstream.reset();
  receiver.received.length = 0;
  receiver.replies.length = 0;
});

type Hook = { events: string[]; url?: string; required?: boolean; maxAttempts?: number; headers?: Record<string, string> };

async function create(hooks: Hook[], client = s.client): Promise<string> {
  const name = uniqueName("hooked");
  await client.createPipeline({
    name,
    spec: spec({
      inputVariables: ["prompt"],
      generate: [{ llmGenerate: { model: MODEL } }],
      validate: [{ regexMatch: { pattern: "^ok" } }],
      hooks: hooks.map((h) => ({ url: receiver.url(), ...h, events: h.events.map((e) => `HOOK_EVENT_${e}`) })),
    }),
  });
  return name;
}

describe("webhooks", () => {
  it("posts pre- and post-execute events with the run id, pipeline, revision and stage timings", async () => {
    const name = await create([{ events: ["PRE_EXECUTE", "POST_EXECUTE"], headers: { "x-secret": "s3cret" } }]);
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    const res = await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    await receiver.until(() => receiver.received.length === 2);
    const byEvent = Object.fromEntries(receiver.received.map((r) => [r.body.event, r]));
    expect(byEvent.pre_execute.body).toMatchObject({ runId: res.runId, pipeline: name, revision: 1 });
    expect(byEvent.pre_execute.body.timings).toBeUndefined();
    const post = byEvent.post_execute;
    expect(post.body).toMatchObject({ event: "post_execute", runId: res.runId, pipeline: name, revision: 1, attempts: 1 });
    expect((post.body.timings as { stage: string }[]).map((t) => t.stage)).toEqual(["preprocess", "generate", "postprocess", "validate"]);
    expect(post.headers["content-type"]).toBe("application/json");
    expect(post.headers["x-secret"]).toBe("s3cret");
    expect(post.headers["openloop-event"]).toBe("post_execute");
  });

  it("posts an error event with the error's code and message", async () => {
    const name = await create([{ events: ["ERROR", "POST_EXECUTE"] }]);
    s.upstream.enqueue({ kind: "answer", deltas: ["not ok"] });
    await failure(() => s.client.executePipeline({ name, inputs: { prompt: "q" } }));
    await receiver.until(() => receiver.received.length === 1);
    expect(receiver.received[0].body).toMatchObject({ event: "error", pipeline: name, error: { code: "FAILED_PRECONDITION" } });
    expect((receiver.received[0].body.error as { message: string }).message).toContain("validator 'regex_match' refused the output");
  });

  it("retries a failed delivery with the same delivery id until the receiver accepts it", async () => {
    const name = await create([{ events: ["POST_EXECUTE"], maxAttempts: 4 }]);
    receiver.replies.push({ status: 500 }, { status: 503 });
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    await receiver.until(() => receiver.received.length === 3);
    const ids = new Set(receiver.received.map((r) => r.headers["openloop-delivery"]));
    expect(ids.size).toBe(1);
  });

  it("does not retry a delivery the receiver refuses with a 4xx status", async () => {
    const failed = async () => counter(s, "post_execute", "failed");
    const before = await failed();
    const name = await create([{ events: ["POST_EXECUTE"], maxAttempts: 4 }]);
    receiver.replies.push({ status: 400 });
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    // Given up on (counted as failed) after the one try that got the 400.
    await expect.poll(failed).toBe(before + 1);
    expect(receiver.received).toHaveLength(1);
  });

  it("never blocks the run on a hook that is not required", async () => {
    const name = await create([{ events: ["PRE_EXECUTE", "POST_EXECUTE"] }]);
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    receiver.replies.push({ status: 200, hold }, { status: 200, hold });
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    try {
      // The receiver holds its answers until released; the run ends regardless.
      const res = await s.client.executePipeline({ name, inputs: { prompt: "q" } });
      expect(res.runId).toBeTruthy();
      await receiver.until(() => receiver.received.length === 2);
    } finally {
      release();
    }
  });

  it("fails the run with UNAVAILABLE when a required pre-execute hook cannot be delivered, before any generation", async () => {
    const name = await create([{ events: ["PRE_EXECUTE"], required: true, maxAttempts: 2 }]);
    receiver.replies.push({ status: 500 }, { status: 500 });
    const err = ConnectError.from(await failure(() => s.client.executePipeline({ name, inputs: { prompt: "q" } })));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/^required pre_execute hook http:\/\/127\.0\.0\.1:\d+\/hook failed, so the run did not start: .* answered HTTP 500 \(after 2 tries\)$/);
    expect(receiver.received).toHaveLength(2);
    expect(s.upstream.chatRequests).toHaveLength(0);
  });

  it("waits for a required pre-execute hook that succeeds on a retry, then runs", async () => {
    const name = await create([{ events: ["PRE_EXECUTE"], required: true, maxAttempts: 3 }]);
    receiver.replies.push({ status: 502 });
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    const res = await s.client.executePipeline({ name, inputs: { prompt: "q" } });
    expect(res.runId).toBeTruthy();
    expect(receiver.received).toHaveLength(2);
  });

  it("answers only after a required post-execute hook was delivered", async () => {
    const name = await create([{ events: ["POST_EXECUTE"], required: true }]);
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    receiver.replies.push({ status: 200, hold });
    s.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
    let answered = false;
    const call = s.client.executePipeline({ name, inputs: { prompt: "q" } }).then((res) => {
      answered = true;
      return res;
    });
    await receiver.until(() => receiver.received.length === 1);
    // The receiver has the event but has not answered: the run's answer must wait for it.
    expect(answered).toBe(false);
    release();
    expect((await call).runId).toBe(receiver.received[0].body.runId);
  });

  it("drops events beyond the bounded queue and counts them", async () => {
    const small = await startPipelineServer({ pipeline: { hooks: { ...LOOPBACK_ALLOWED, queueSize: 1, concurrency: 1 } } });
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    receiver.replies.push({ status: 200, hold });
    try {
      const name = await create([{ events: ["POST_EXECUTE"] }], small.client);
      for (let i = 0; i < 3; i++) {
        small.upstream.enqueue({ kind: "answer", deltas: ["ok"] });
        await small.client.executePipeline({ name, inputs: { prompt: "q" } });
      }
      await receiver.until(() => receiver.received.length === 1);
      expect(await counter(small, "post_execute", "dropped")).toBe(2);
    } finally {
      release();
      await small.close();
    }
  });
});

/** A value of openloop_pipeline_hook_deliveries_total, read from the server's /metrics endpoint. */
async function counter(server: PipelineServer, event: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${server.server.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`openloop_pipeline_hook_deliveries_total{event="${event}",outcome="${outcome}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
