// A version registered in RegistryService under an online model's name by someone other than
// its learner (another type, or bytes that are not a learner artifact) is kept out of serving:
// Predict naming it is FAILED_PRECONDITION naming its type, and the model keeps serving its own.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeedbackService, Task } from "../../gen/openloop/feedback/v1/feedback_service_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { failure } from "../support/gates.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let feedback: Client<typeof FeedbackService>;
let registry: Client<typeof RegistryService>;
const features = { x: { kind: { case: "doubleValue" as const, value: 1 } } };

beforeAll(async () => {
  server = await startTestServer();
  feedback = createClient(FeedbackService, server.grpc);
  registry = createClient(RegistryService, server.grpc);
  await feedback.createOnlineModel({ name: "churn", task: Task.REGRESSION });
  const register = (version: string, type: string, artifact: string) =>
    registry.registerModelVersionUnary({ header: { name: "churn", version, type }, artifacts: [{ name: artifact, data: Buffer.from("not a learner artifact") }] });
  await register("2", "onnx", "model.onnx");
  await register("3", "linear", "model.olin");
  await register("4", "pytorch", "model.olin");
  await registry.setAlias({ name: "churn", alias: "prod", version: "2" });
});
afterAll(() => server?.close());

async function predictError(version: string): Promise<ConnectError> {
  return ConnectError.from(await failure(() => feedback.predict({ model: "churn", version, features })));
}

describe("foreign versions of an online model", () => {
  it("answers FAILED_PRECONDITION naming the type for an onnx version, by version and by alias", async () => {
    for (const selector of ["2", "prod"]) {
      const err = await predictError(selector);
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toBe("version 2 of 'churn' has type 'onnx' and is not an online model version; Predict serves only the 'linear' versions an online learner registers");
    }
  });

  it("answers FAILED_PRECONDITION naming the type when the artifact is not a learner artifact (bad magic)", async () => {
    const linear = await predictError("3");
    expect(linear.code).toBe(Code.FailedPrecondition);
    expect(linear.rawMessage).toMatch(/^version 3 of 'churn' has type 'linear' and its artifact is not one: not an openloop linear artifact \(bad magic\);/);
    const other = await predictError("4");
    expect(other.code).toBe(Code.FailedPrecondition);
    expect(other.rawMessage).toContain("has type 'pytorch'");
  });

  it("still answers NOT_FOUND for a version that does not exist", async () => {
    expect((await predictError("9")).code).toBe(Code.NotFound);
  });

  it("keeps serving the learner's own version: foreign versions never become current", async () => {
    const res = await feedback.predict({ model: "churn", features });
    expect(res.modelVersion).toBe("1");
    expect((await feedback.getOnlineModel({ name: "churn" })).model?.currentVersion).toBe("1");
    expect((await feedback.predict({ model: "churn", version: "1", features })).modelVersion).toBe("1");
  });
});
