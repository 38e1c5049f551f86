// Composition root: config -> platform -> service modules -> router -> listener.
import type { ConnectRouter, Transport } from "@connectrpc/connect";
import { createRouterTransport } from "@connectrpc/connect";
import { pino, type Logger } from "pino";
import { Registry as MetricsRegistry } from "prom-client";
import type { Config } from "./config.js";
import type { PlatformContext, ServiceModule } from "./platform/module.js";
import { createRegistryModule } from "./registry/module.js";
import { createLlmModule } from "./llm/module.js";
import { createFeatureModule } from "./feature/module.js";
import { createFeedbackModule } from "./feedback/module.js";
import { createPipelineModule } from "./pipeline/module.js";
import type { StepRegistry } from "./pipeline/registry.js";

/** What a program embedding openloop adds to the built-in services. */
export interface ServiceExtensions {
  /** The pipeline step catalog, with custom steps registered (default: the built-in steps). */
  readonly pipelineSteps?: StepRegistry;
}

export interface Services {
  readonly modules: readonly ServiceModule[];
  readonly ctx: PlatformContext;
  routes(router: ConnectRouter): void;
  close(): Promise<void>;
}

/** Builds every service module, in dependency order; each reaches the others through ctx.internal. */
export async function createServices(
  config: Config,
  log: Logger = pino({ level: config.log.level }),
  metrics = new MetricsRegistry(),
  extensions: ServiceExtensions = {},
): Promise<Services> {
  const modules: ServiceModule[] = [];
  const routes = (router: ConnectRouter) => {
    for (const m of modules) m.routes(router);
  };
  const internal = deferredTransport();
  const ctx: PlatformContext = { log, metrics, internal: internal.transport };
  try {
    modules.push(await createRegistryModule(config, ctx));
    modules.push(await createLlmModule(config, ctx));
    modules.push(await createFeatureModule(config, ctx));
    modules.push(await createFeedbackModule(config, ctx));
    modules.push(await createPipelineModule(config, ctx, { steps: extensions.pipelineSteps }));
  } catch (err) {
    await closeAll(modules);
    throw err;
  }
  internal.ready(createRouterTransport(routes));
  return { modules, ctx, routes, close: () => closeAll(modules) };
}

async function closeAll(modules: ServiceModule[]): Promise<void> {
  // Reverse order: consumers stop before what they consume.
  for (const m of [...modules].reverse()) await m.close();
}

// The in-process transport can only be built once every module has mounted its routes:
// a call made earlier (a module's background start-up work) waits until then, so no
// module is ever left off the router.
function deferredTransport(): { transport: Transport; ready(real: Transport): void } {
  let ready!: (real: Transport) => void;
  const real = new Promise<Transport>((resolve) => (ready = resolve));
  return {
    ready,
    transport: {
      unary: async (...args) => (await real).unary(...args),
      stream: async (...args) => (await real).stream(...args),
    },
  };
}
