// PipelineService: a thin adapter from the proto contract to the catalog and the runner.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type ExecutePipelineStreamResponse,
  ExecutePipelineStreamResponseSchema,
  PipelineService,
} from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import type { PipelineCatalog } from "./catalog.js";
import { pipelineToPb, runToPb, specFromPb, stageToPb, timingsToPb, valueToPb } from "./convert.js";
import type { RunStore } from "./runs.js";
import { type PipelineRunner, RUN_ID_HEADER, type StreamObserver } from "./runner.js";
import type { JsonObject } from "./types.js";
import { closeOnAbort } from "../platform/streams.js";
import { quote } from "../platform/errors.js";

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function pageToken(after: string): string {
  return Buffer.from(after, "utf8").toString("base64url");
}

function afterFromToken(token: string): string {
  if (!token) return "";
  const after = Buffer.from(token, "base64url").toString("utf8");
  if (pageToken(after) !== token) throw new ConnectError("page_token is not one this server returned; pass next_page_token as it came", Code.InvalidArgument);
  return after;
}

/** An async queue between the run (which pushes events) and the streaming handler (which yields them). */
class EventQueue<T> {
  private readonly items: T[] = [];
  private wake?: () => void;
  private done = false;
  private error: unknown;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  end(error?: unknown): void {
    this.done = true;
    this.error = error;
    this.wake?.();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

export function createPipelineService(catalog: PipelineCatalog, runner: PipelineRunner, runs: RunStore): ServiceImpl<typeof PipelineService> {
  const scope = (ctx: HandlerContext) => ({ signal: ctx.signal, timeoutMs: () => ctx.timeoutMs() });
  return {
    async createPipeline(req, ctx) {
      const rev = await catalog.create(req.name, req.description, specFromPb(req.spec), scope(ctx));
      return { pipeline: pipelineToPb(rev) };
    },

    async getPipeline(req) {
      return { pipeline: pipelineToPb(await catalog.lookup(req.name, req.revision)) };
    },

    listPipelines(req) {
      if (req.pageSize < 0) throw new ConnectError(`page_size must be 0-${MAX_PAGE}, got ${req.pageSize}`, Code.InvalidArgument);
      const limit = Math.min(req.pageSize || DEFAULT_PAGE, MAX_PAGE);
      const { pipelines, more } = catalog.list(afterFromToken(req.pageToken), limit);
      return { pipelines: pipelines.map(pipelineToPb), nextPageToken: more ? pageToken(pipelines.at(-1)!.name) : "" };
    },

    async updatePipeline(req, ctx) {
      const rev = await catalog.update(req.name, req.description, specFromPb(req.spec), req.expectedRevision, scope(ctx));
      return { pipeline: pipelineToPb(rev) };
    },

    async deletePipeline(req) {
      await catalog.delete(req.name);
      return {};
    },

    async executePipeline(req, ctx) {
      const result = await runner.execute(req.name, req.revision, (req.inputs ?? {}) as JsonObject, scope(ctx), undefined, (runId) =>
        ctx.responseHeader.set(RUN_ID_HEADER, runId),
      );
      return {
        runId: result.runId,
        revision: result.revision,
        output: valueToPb(result.output),
        timings: timingsToPb(result.timings),
        attempts: result.attempts,
      };
    },

    async *executePipelineStream(req, ctx) {
      const queue = new EventQueue<ExecutePipelineStreamResponse>();
      const event = (e: MessageInitShape<typeof ExecutePipelineStreamResponseSchema>["event"]) => queue.push(create(ExecutePipelineStreamResponseSchema, { event: e }));
      const observer: StreamObserver = {
        runStarted: (runId, revision) => event({ case: "runStarted", value: { runId, revision } }),
        stageStarted: (stage, attempt) => event({ case: "stageStarted", value: { stage: stageToPb(stage), attempt } }),
        stageFinished: (t, validationError) =>
          event({ case: "stageFinished", value: { stage: stageToPb(t.stage), attempt: t.attempt, durationMs: t.durationMs, validationError: validationError ?? "" } }),
        delta: (text) => event({ case: "textDelta", value: text }),
      };
      // execute() sets the header before its first await, so it goes out with the first message.
      runner.execute(req.name, req.revision, (req.inputs ?? {}) as JsonObject, scope(ctx), observer, (runId) => ctx.responseHeader.set(RUN_ID_HEADER, runId)).then(
        (result) => {
          event({ case: "runFinished", value: { output: valueToPb(result.output), attempts: result.attempts, timings: timingsToPb(result.timings) } });
          queue.end();
        },
        (err: unknown) => queue.end(err),
      );
      yield* closeOnAbort(queue.drain(), ctx.signal);
    },

    getRun(req) {
      const run = runs.get(req.runId);
      if (!run) throw new ConnectError(`run '${quote(req.runId)}' not found: unknown, or older than the kept runs`, Code.NotFound);
      return { run: runToPb(run) };
    },
  };
}
