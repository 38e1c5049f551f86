// An example program, and the test of the packed package: typescript.test.ts installs the tarball
// into a temp project, copies this there, type-checks it with tsc and runs it with Node.
//   node call.ts BASE_URL API_KEY TRANSPORT
import { Code, ConnectError, createOpenloopClient, type TransportKind } from "@openloop/client";
import { FeatureType } from "@openloop/client/gen/openloop/feature/v1/feature_value_pb.js";
import { HealthCheckResponse_ServingStatus } from "@openloop/client/gen/grpc/health/v1/health_pb";

const [baseUrl, apiKey, transport] = process.argv.slice(2) as [string, string, TransportKind];

async function codeOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "OK";
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

const client = createOpenloopClient({ baseUrl, apiKey, transport });
const wrong = createOpenloopClient({ baseUrl, apiKey: "not-the-key", transport });
try {
  const name = `ts_${transport.replace("-", "_")}`;
  await client.feature.createFeatureSet({ featureSet: { name, features: [{ name: "age", type: FeatureType.INT64 }] } });
  await client.feature.putFeatures({ featureSet: name, entityKey: "user-1", features: { age: { kind: { case: "int64Value", value: 42n } } } });
  const got = await client.feature.getFeatures({ featureSet: name, entityKey: "user-1" });

  // A server stream: register a version with one artifact, then download it.
  const model = `ts-model-${transport}`;
  const bytes = new TextEncoder().encode(`weights for ${transport}`);
  await client.registry.registerModelVersionUnary({ header: { name: model, type: "onnx" }, artifacts: [{ name: "model.onnx", data: bytes }] });
  const chunks: Uint8Array[] = [];
  for await (const part of client.registry.downloadArtifact({ name: model })) {
    if (part.part.case === "data") chunks.push(part.part.value);
  }

  const health = await client.health.check({});
  const models = await client.llm.listModels({});
  console.log(
    JSON.stringify({
      age: String(got.features.age?.kind.value),
      downloaded: new TextDecoder().decode(Buffer.concat(chunks)),
      serving: health.status === HealthCheckResponse_ServingStatus.SERVING,
      llmModels: models.models.length,
      missing: await codeOf(() => client.feature.getFeatureSet({ name: "no_such_set" })),
      wrongKey: await codeOf(() => wrong.feature.listFeatureSets({})),
    }),
  );
} finally {
  client.close();
  wrong.close();
}
