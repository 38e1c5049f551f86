// Hot paths pay nothing for sharing: Predict and feature reads are answered from each replica's
// memory, without a statement to PostgreSQL.
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureService } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { i64, otherServicesIdle, T } from "../feature/helpers.js";
import { featureMap } from "../feedback/synthetic.js";
import { startSharedBackend, type SharedBackend } from "./helpers.js";

let backend: SharedBackend;
let server: TestServer;
beforeAll(async () => {
  backend = await startSharedBackend();
  // A long TTL: statements are counted, and no periodic re-read may run meanwhile.
  server = await startTestServer({ ...otherServicesIdle, ...(await backend.config("hot_paths", 600_000)), feedback: { redisKeyPrefix: `openloop:feedback:hot-${process.pid}:` } });
});
afterAll(async () => {
  await server?.close();
  await backend?.teardown();
});

async function statements(): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  return Number(/^openloop_postgres_statements_total\{result="answered"\} (\d+)/m.exec(text)?.[1]);
}

describe("hot paths on shared storage", () => {
  it("predicts and reads features without asking PostgreSQL", async () => {
    const feedback = createClient(FeedbackService, server.grpc);
    const features = createClient(FeatureService, server.grpc);
    await feedback.createOnlineModel({ name: "hot-model", task: Task.REGRESSION });
    await features.createFeatureSet({ featureSet: { name: "hot-set", features: [{ name: "age", type: T.INT64, required: true }] } });
    await features.putFeatures({ featureSet: "hot-set", entityKey: "u1", features: { age: i64(30) } });
    // First calls open the model and fill the caches.
    await feedback.predict({ model: "hot-model", features: featureMap([1, 2]) });
    await features.getFeatures({ featureSet: "hot-set", entityKey: "u1" });
    const before = await statements();
    for (let i = 0; i < 100; i++) {
      expect((await feedback.predict({ model: "hot-model", features: featureMap([i, 2]) })).modelVersion).toBe("1");
      await features.getFeatures({ featureSet: "hot-set", entityKey: "u1" });
      await features.processFeatures({ featureSet: "hot-set", features: { age: i64(i) } });
    }
    expect(await statements()).toBe(before);
  });
});
