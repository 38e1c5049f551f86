// What each RPC needs of an API key: one table, every method of every service. A method
// missing here needs `admin` (fail closed); test/platform/scopes.test.ts checks that every
// method in gen/ is listed, so a new RPC cannot ship unscoped by accident.

/** Every scope a key can hold. `admin` grants everything, including /metrics. */
export const SCOPES = [
  "llm:read",
  "llm:generate",
  "pipelines:read",
  "pipelines:write",
  "pipelines:execute",
  "registry:read",
  "registry:write",
  "features:read",
  "features:write",
  "feedback:read",
  "feedback:predict",
  "feedback:write",
  "metrics:read",
  "admin",
] as const;

export type Scope = (typeof SCOPES)[number];

/** Services every caller may reach without a key (probes and tooling). */
export const OPEN_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** The scope each method needs, by service and method name. */
export const METHOD_SCOPES: Readonly<Record<string, Readonly<Record<string, Scope>>>> = {
  "openloop.llm.v1.LLMService": {
    ListModels: "llm:read",
    GetMetrics: "llm:read",
    Generate: "llm:generate",
    GenerateStream: "llm:generate",
    Embed: "llm:generate",
  },
  "openloop.pipeline.v1.PipelineService": {
    GetPipeline: "pipelines:read",
    ListPipelines: "pipelines:read",
    GetRun: "pipelines:read",
    CreatePipeline: "pipelines:write",
    UpdatePipeline: "pipelines:write",
    DeletePipeline: "pipelines:write",
    ExecutePipeline: "pipelines:execute",
    ExecutePipelineStream: "pipelines:execute",
  },
  "openloop.registry.v1.RegistryService": {
    GetModelVersion: "registry:read",
    ListModels: "registry:read",
    ListModelVersions: "registry:read",
    DownloadArtifact: "registry:read",
    RegisterModelVersion: "registry:write",
    RegisterModelVersionUnary: "registry:write",
    SetAlias: "registry:write",
    DeleteAlias: "registry:write",
    DeleteModelVersion: "registry:write",
  },
  "openloop.feature.v1.FeatureService": {
    GetFeatureSet: "features:read",
    ListFeatureSets: "features:read",
    GetFeatures: "features:read",
    BatchGetFeatures: "features:read",
    // Validates and transforms what the caller sends; stores nothing.
    ProcessFeatures: "features:read",
    CreateFeatureSet: "features:write",
    DeleteFeatureSet: "features:write",
    PutFeatures: "features:write",
    DeleteFeatures: "features:write",
  },
  "openloop.feedback.v1.FeedbackService": {
    GetOnlineModel: "feedback:read",
    ListOnlineModels: "feedback:read",
    GetLearnerStatus: "feedback:read",
    GetModelPerformance: "feedback:read",
    // Serving: it records the prediction too, but a caller that only predicts needs nothing else.
    Predict: "feedback:predict",
    CreateOnlineModel: "feedback:write",
    RecordPrediction: "feedback:write",
    SubmitFeedback: "feedback:write",
    IngestSamples: "feedback:write",
    IngestSampleBatch: "feedback:write",
  },
};

/** The scope a call needs: undefined for the open services, `admin` for a method the table does not list. */
export function scopeFor(service: string, method: string): Scope | undefined {
  if (OPEN_SERVICES.has(service)) return undefined;
  return METHOD_SCOPES[service]?.[method] ?? "admin";
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** True when a key holding `held` may do what `needed` guards. */
export function grants(held: ReadonlySet<Scope>, needed: Scope): boolean {
  return held.has("admin") || held.has(needed);
}
