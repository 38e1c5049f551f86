// Builds the pipeline service from its config and dependencies.
import path from "node:path";
import { createClient, type Transport } from "@connectrpc/connect";
import { ConfigError, type Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";
import { bind } from "../platform/rpc/binding.js";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { LLMService } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { PipelineService } from "../../gen/openloop/pipeline/v1/pipeline_service_pb.js";
import { traceStore } from "../platform/tracing/index.js";
import { PipelineCatalog, type ModelLister } from "./catalog.js";
import { specFromJson } from "./convert.js";
import { HookDispatcher } from "./hooks.js";
import type { StepRegistry } from "./registry.js";
import { PipelineRunner } from "./runner.js";
import { RunStore } from "./runs.js";
import { createPipelineService } from "./service.js";
import { builtinSteps } from "./steps/index.js";
import { PgPipelineStore } from "./pg-store.js";
import { PipelineFileStore, type PipelineStore } from "./store.js";
import type { SharedMetadata } from "../platform/postgres/shared-metadata.js";
import type { Upstreams } from "./types.js";

/** The services pipelines call, and the step catalog. */
export interface PipelineDependencies {
  readonly llm: Transport;
  readonly features: Transport;
  readonly feedback: Transport;
  /** The step catalog: builtinSteps() plus any custom steps of a program that embeds openloop. */
  readonly steps?: StepRegistry;
  /** Shared storage (storage: shared): pipelines live in PostgreSQL, visible to every replica. */
  readonly shared?: SharedMetadata;
}

export async function createPipelineModule(config: Config, ctx: PlatformContext, deps: PipelineDependencies): Promise<ServiceModule> {
  const settings = config.pipeline;
  const log = ctx.log.child({ service: "pipeline" });
  const registry = deps.steps ?? builtinSteps();
  const upstreams: Upstreams = {
    llm: createClient(LLMService, deps.llm),
    feature: createClient(FeatureService, deps.features),
    feedback: createClient(FeedbackService, deps.feedback),
  };
  const listModels: ModelLister = async (signal, timeoutMs) => {
    const res = await upstreams.llm.listModels({}, { signal, timeoutMs });
    return new Set(res.models.flatMap((m) => [m.id, ...m.aliases]));
  };

  const store: PipelineStore = deps.shared
    ? new PgPipelineStore(deps.shared.db, deps.shared.changes)
    : traceStore(new PipelineFileStore(path.join(config.dataDir, "pipelines"), log), "pipeline.store", { "db.system.name": "filesystem" });
  const limits = { maxPipelines: settings.maxPipelines, maxRevisions: settings.maxRevisions };
  const catalog = await PipelineCatalog.open(store, registry, listModels, limits, log, deps.shared?.cacheTtlMs);
  const fromConfig: string[] = [];
  for (const [i, def] of settings.pipelines.entries()) {
    try {
      await catalog.applyFromConfig(def.name, def.description, specFromJson(def.spec));
      fromConfig.push(def.name);
    } catch (err) {
      throw new ConfigError(`pipeline.pipelines[${i}] '${def.name}': ${(err as Error).message.replace(/^\[[a-z_]+\] /, "")}`);
    }
  }

  // Models of config-file pipelines are checked once every service is serving: LLMService may list
  // models from its providers, and the in-process transport exists only after every module mounts.
  const modelCheck = setTimeout(() => {
    for (const name of fromConfig) {
      catalog.check(name, catalog.get(name).spec, { signal: AbortSignal.timeout(30_000), timeoutMs: () => 30_000 }).catch((err: Error) => {
        log.error({ pipeline: name }, `pipeline from the config file does not check out: ${err.message}`);
      });
    }
  }, 0);
  modelCheck.unref();

  const runs = new RunStore(settings.runs);
  const hooks = new HookDispatcher(settings.hooks, log, ctx.metrics);
  const runner = new PipelineRunner(catalog, runs, hooks, upstreams, log, ctx.metrics);
  log.info({ pipelines: catalog.list("", 1_000_000).pipelines.length, fromConfig }, "pipeline service ready");

  return {
    services: [bind(PipelineService, createPipelineService(catalog, runner, runs))],
    async close() {
      clearTimeout(modelCheck);
      catalog.close();
      await hooks.close();
      runs.clear();
    },
  };
}
