// The pipeline service's API for programs that embed openloop: the step catalog and custom steps.
//
//   const steps = builtinSteps().registerStep({ name: "shout", stage: "postprocess",
//     validateConfig: () => [], reads: () => ["text"], writes: () => ["text"],
//     run: (state) => { state.vars.text = String(state.vars.text).toUpperCase(); } });
//   await startServer(config, { extensions: { pipelineSteps: steps } });
export { StepRegistry } from "./registry.js";
export { builtinSteps } from "./steps/index.js";
export { createPipelineModule, type PipelineDependencies } from "./module.js";
export { StepFailure } from "./types.js";
export type { JsonObject, JsonValue, RunState, StageName, StepContext, StepDefinition, Upstreams } from "./types.js";
