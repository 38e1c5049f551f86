import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerReflection as V1, type ServerReflectionRequest } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as V1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { documentedDescriptors } from "../../src/platform/reflection.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { ROOT } from "../support/tools.js";

type Query = ServerReflectionRequest["messageRequest"];

describe("server reflection", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { apiKeys: ["reflection-key-0123456789"] } });
  });
  afterAll(() => s?.close());

  /** Sends the queries on one stream and returns the answers in order. */
  async function ask(queries: Query[], service: typeof V1 | typeof V1alpha = V1) {
    const client = createClient(service as typeof V1, s.grpc);
    const answers = [];
    for await (const res of client.serverReflectionInfo(
      (async function* () {
        for (const q of queries) yield { host: "", messageRequest: q };
      })(),
    )) {
      answers.push(res.messageResponse);
    }
    return answers;
  }

  const fileNames = (answer: Awaited<ReturnType<typeof ask>>[number]) => {
    if (answer.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${answer.case}: ${JSON.stringify(answer.value)}`);
    return answer.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
  };

  it("lists only the services mounted on the server", async () => {
    const [answer] = await ask([{ case: "listServices", value: "" }]);
    expect(answer.case).toBe("listServicesResponse");
    const names = answer.case === "listServicesResponse" ? answer.value.service.map((x) => x.name) : [];
    expect(names).toContain("openloop.feature.v1.FeatureService");
    expect(names).toContain("grpc.health.v1.Health");
    expect(names).toContain("grpc.reflection.v1alpha.ServerReflection");
    expect(names.every((n) => n.startsWith("openloop.") || n.startsWith("grpc."))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it("finds the file of a service, a method, a message, a nested enum and a field, with transitive dependencies", async () => {
    const answers = await ask([
      { case: "fileContainingSymbol", value: "openloop.feature.v1.FeatureService" },
      { case: "fileContainingSymbol", value: "openloop.feature.v1.FeatureService.ListFeatureSets" },
      { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckRequest" },
      { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.ServingStatus" },
      { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckRequest.service" },
    ]);
    const first = fileNames(answers[0]);
    expect(first[0]).toBe("openloop/feature/v1/feature_service.proto");
    // Its imports come along the first time, and the well-known types they use.
    expect(first).toContain("openloop/feature/v1/feature_value.proto");
    expect(first).toContain("google/protobuf/timestamp.proto");
    // Later answers on the same stream send the requested file but skip what was already sent.
    expect(fileNames(answers[1])).toEqual(["openloop/feature/v1/feature_service.proto"]);
    for (const a of answers.slice(2)) expect(fileNames(a)).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("finds a file by its name", async () => {
    const [answer] = await ask([{ case: "fileByFilename", value: "grpc/health/v1/health.proto" }]);
    expect(fileNames(answer)).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("answers NOT_FOUND for an unknown symbol and keeps the stream open", async () => {
    const answers = await ask([
      { case: "fileContainingSymbol", value: "no.such.Thing" },
      { case: "fileContainingSymbol", value: "grpc.health.v1.Health" },
    ]);
    expect(answers[0].case).toBe("errorResponse");
    expect(answers[0].case === "errorResponse" && answers[0].value.errorCode).toBe(Code.NotFound);
    expect(fileNames(answers[1])).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("answers the same on grpc.reflection.v1alpha", async () => {
    const answers = await ask(
      [
        { case: "listServices", value: "" },
        { case: "fileContainingSymbol", value: "openloop.llm.v1.LLMService" },
      ],
      V1alpha,
    );
    expect(answers[0].case).toBe("listServicesResponse");
    expect(fileNames(answers[1])[0]).toBe("openloop/llm/v1/llm_service.proto");
  });

  it("serves the descriptors with the proto comments", async () => {
    const [answer] = await ask([{ case: "fileByFilename", value: "grpc/health/v1/health.proto" }]);
    if (answer.case !== "fileDescriptorResponse") throw new Error(answer.case);
    const file = fromBinary(FileDescriptorProtoSchema, answer.value.fileDescriptorProto[0]);
    const comments = file.sourceCodeInfo?.location.map((l) => l.leadingComments) ?? [];
    expect(comments).toContain(" Answers the current status; an unknown service is NOT_FOUND.\n");
  });

  it("lists no extension numbers for a message without extensions", async () => {
    const [answer] = await ask([{ case: "allExtensionNumbersOfType", value: "grpc.health.v1.HealthCheckRequest" }]);
    expect(answer).toEqual({ case: "allExtensionNumbersResponse", value: expect.objectContaining({ baseTypeName: "grpc.health.v1.HealthCheckRequest", extensionNumber: [] }) });
  });
});

describe("commented descriptors from gen/", () => {
  it("are ignored when they no longer match the generated code", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-gen-"));
    const stale = clone(FileDescriptorProtoSchema, file_grpc_health_v1_health.proto);
    stale.messageType[0].field[0].number = 99;
    await mkdir(path.join(dir, "grpc/health/v1"), { recursive: true });
    await writeFile(path.join(dir, "grpc/health/v1/health.descriptor.b64"), Buffer.from(toBinary(FileDescriptorProtoSchema, stale)).toString("base64"));
    const staleFiles: string[] = [];
    const load = documentedDescriptors(dir, (f) => staleFiles.push(f));
    expect(load(file_grpc_health_v1_health)).toBeUndefined();
    expect(staleFiles).toEqual(["grpc/health/v1/health.proto"]);
  });

  it("are used when they match", async () => {
    const load = documentedDescriptors(path.join(ROOT, "gen"), () => {
      throw new Error("gen/ is stale");
    });
    const bytes = load(file_grpc_health_v1_health);
    expect(bytes && fromBinary(FileDescriptorProtoSchema, bytes).sourceCodeInfo).toBeDefined();
  });
});
