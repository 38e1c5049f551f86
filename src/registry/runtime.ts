// Which openloop runtime loads which model type, and the check other services use before
// loading a registry version: a type without that runtime answers FAILED_PRECONDITION naming it.
import { Code, ConnectError } from "@connectrpc/connect";
import { ModelRuntime } from "../../gen/openloop/registry/v1/registry_service_pb.js";

/** Model types openloop can load, and the service that loads each. */
export const LOADABLE_TYPES: Readonly<Record<string, ModelRuntime>> = {
  gguf: ModelRuntime.LLM,
  linear: ModelRuntime.ONLINE_LEARNER,
};

const RUNTIME_NAMES: Record<ModelRuntime, string> = {
  [ModelRuntime.UNSPECIFIED]: "unspecified",
  [ModelRuntime.NONE]: "none",
  [ModelRuntime.LLM]: "LLMService (type gguf)",
  [ModelRuntime.ONLINE_LEARNER]: "FeedbackService (type linear)",
};

/** The runtime that loads a model type; NONE when openloop only stores it. */
export function runtimeForType(type: string): ModelRuntime {
  return LOADABLE_TYPES[type] ?? ModelRuntime.NONE;
}

/**
 * Throws FAILED_PRECONDITION naming the type when a version cannot be loaded by `runtime`,
 * e.g. an "onnx" version asked for by LLMService. Its artifacts still store and download.
 */
export function requireRuntime(version: { name: string; version: string; type: string }, runtime: ModelRuntime): void {
  const actual = runtimeForType(version.type);
  if (actual === runtime) return;
  const loader = actual === ModelRuntime.NONE ? "no openloop runtime loads it" : `it is loaded by ${RUNTIME_NAMES[actual]}`;
  throw new ConnectError(
    `model ${version.name}@${version.version} has type '${version.type}'; ${RUNTIME_NAMES[runtime]} cannot load it (${loader}); its artifacts can still be downloaded`,
    Code.FailedPrecondition,
  );
}
