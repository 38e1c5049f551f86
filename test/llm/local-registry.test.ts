// GGUF models stored in RegistryService, served by LLMService as registry:<name>@<version-or-alias>.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ChatMessageSchema, FinishReason, ModelSource, Role } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { RegistryModelLoader, parseRegistryModelId } from "../../src/llm/registry-models.js";
import { codeOf, registerSmall, registryClient, upload, type RegistryClient } from "../registry/helpers.js";
import { collect, request, startLlmServer, streamRequest, type LlmServer } from "./helpers.js";
import { CAPITAL, ReferenceTokenizer, ensureModel } from "./local-support.js";

const messages = CAPITAL.map((m) => create(ChatMessageSchema, { role: m.role === "system" ? Role.SYSTEM : Role.USER, content: m.content }));

let llm: LlmServer;
let registry: RegistryClient;
let tokenizer: ReferenceTokenizer;
let modelPath: string;
let digest: string;

async function* fileChunks(file: string, trailer?: Uint8Array): AsyncIterable<Uint8Array> {
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
  if (trailer) yield trailer;
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (c) => hash.update(c))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** Registers the SmolLM2 GGUF (optionally with bytes appended, which llama.cpp ignores, for a different digest). */
async function registerGguf(name: string, version: string, trailer?: Uint8Array) {
  return upload(registry, { name, version, type: "gguf" }, [{ name: "model.gguf", chunks: fileChunks(modelPath, trailer) }]);
}

beforeAll(async () => {
  modelPath = ensureModel();
  tokenizer = await ReferenceTokenizer.load();
  llm = await startLlmServer({});
  registry = registryClient(llm.server.grpc);
  digest = (await registerGguf("smol", "1")).artifacts[0].sha256;
  await registry.setAlias({ name: "smol", alias: "champion", version: "1" });
});

afterAll(async () => {
  await llm?.close();
  await tokenizer?.close();
});

describe("registry GGUF models through LLMService", () => {
  it("answers Generate for registry:<name>@<alias> with the model's template and token counts", async () => {
    const res = await llm.client.generate(request("registry:smol@champion", { prompt: "", messages, maxTokens: 24 }));
    expect(res.text).toContain("Paris");
    expect(res.finishReason).toBe(FinishReason.STOP);
    expect(res.model).toBe("registry:smol@1");
    expect(res.provider).toBe("registry");
    expect(res.upstreamModel).toBe("smol@1");
    expect(res.usage?.inputTokens).toBe(tokenizer.promptTokens(CAPITAL));
  });

  it("keeps the downloaded GGUF, verified, in <dataDir>/llm-cache/<sha256>.gguf", async () => {
    await llm.client.generate(request("registry:smol@1", { prompt: "", messages, maxTokens: 2 }));
    const cached = path.join(llm.server.config.dataDir, "llm-cache", `${digest}.gguf`);
    expect(await sha256File(cached)).toBe(digest);
  });

  it("streams from the latest version for registry:<name>", async () => {
    const { deltas, done } = await collect(llm.client.generateStream(streamRequest("registry:smol", { prompt: "", messages, maxTokens: 24 })));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join("")).toContain("Paris");
    expect(done?.model).toBe("registry:smol@1");
  });

  it("lists a loaded registry model in ListModels", async () => {
    await llm.client.generate(request("registry:smol@1", { prompt: "", messages, maxTokens: 2 }));
    const { models } = await llm.client.listModels({});
    expect(models).toContainEqual(expect.objectContaining({ id: "registry:smol@1", provider: "registry", source: ModelSource.REGISTRY }));
  });

  it("answers FAILED_PRECONDITION naming the type for a version of a type without a runtime", async () => {
    await registerSmall(registry, "vision", "1", "onnx");
    const { code, message } = await codeOf(llm.client.generate(request("registry:vision@1", { maxTokens: 2 })));
    expect(code).toBe(Code.FailedPrecondition);
    expect(message).toContain("type 'onnx'");
    expect(message).toContain("can still be downloaded");
  });

  it("answers FAILED_PRECONDITION when a gguf version's artifact is not a loadable GGUF", async () => {
    await registry.registerModelVersionUnary({ header: { name: "broken", version: "1", type: "gguf" }, artifacts: [{ name: "model.gguf", data: Buffer.from("not a gguf") }] });
    const { code, message } = await codeOf(llm.client.generate(request("registry:broken@1", { maxTokens: 2 })));
    expect(code).toBe(Code.FailedPrecondition);
    expect(message).toContain("not a GGUF model");
  });

  it("answers NOT_FOUND for a model the registry does not have", async () => {
    const { code } = await codeOf(llm.client.generate(request("registry:nothing-here@1", { maxTokens: 2 })));
    expect(code).toBe(Code.NotFound);
  });
});

describe("RegistryModelLoader", () => {
  const signal = () => new AbortController().signal;
  /** A small context: these tests are about loading, not generating. */
  const small = { provider: { contextSize: 512, sequences: 1 } };

  it("shares one loaded model between concurrent users and unloads it once idle", async () => {
    const loader = new RegistryModelLoader({ ...small, transport: llm.server.grpc, dataDir: llm.server.config.dataDir, idleMs: 50 });
    try {
      const [a, b] = await Promise.all([loader.acquire("registry:smol@1", signal()), loader.acquire("registry:smol@champion", signal())]);
      expect(a.provider).toBe(b.provider);
      expect(loader.loaded().map((m) => m.id)).toEqual(["registry:smol@1"]);
      a.release();
      a.release();
      expect(loader.loaded()).toHaveLength(1);
      b.release();
      while (loader.loaded().length > 0) await new Promise((r) => setTimeout(r, 20));
      const again = await loader.acquire("registry:smol@1", signal());
      expect(again.provider).not.toBe(a.provider);
      again.release();
    } finally {
      await loader.close();
    }
  });

  it("reuses the cached file rather than downloading it again", async () => {
    const cached = path.join(llm.server.config.dataDir, "llm-cache", `${digest}.gguf`);
    const loader = new RegistryModelLoader({ ...small, transport: llm.server.grpc, dataDir: llm.server.config.dataDir });
    try {
      (await loader.acquire("registry:smol@1", signal())).release();
      const before = await stat(cached);
      await loader.close();
      const second = new RegistryModelLoader({ ...small, transport: llm.server.grpc, dataDir: llm.server.config.dataDir });
      (await second.acquire("registry:smol@1", signal())).release();
      await second.close();
      expect((await stat(cached)).ino).toBe(before.ino);
    } finally {
      await loader.close();
    }
  });

  it("replaces a corrupted cached file with a verified download", async () => {
    const cached = path.join(llm.server.config.dataDir, "llm-cache", `${digest}.gguf`);
    const size = (await stat(cached)).size;
    const handle = await open(cached, "r+");
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    last[0] ^= 0xff;
    await handle.write(last, 0, 1, size - 1);
    await handle.close();
    const loader = new RegistryModelLoader({ ...small, transport: llm.server.grpc, dataDir: llm.server.config.dataDir });
    try {
      const lease = await loader.acquire("registry:smol@1", signal());
      lease.release();
      expect(await sha256File(cached)).toBe(digest);
    } finally {
      await loader.close();
    }
  });

  it("unloads the least recently used idle model for a new one, and refuses a new one while all are in use", async () => {
    await registerGguf("smol-b", "1", new Uint8Array(32));
    const loader = new RegistryModelLoader({ ...small, transport: llm.server.grpc, dataDir: llm.server.config.dataDir, maxLoaded: 1 });
    try {
      const a = await loader.acquire("registry:smol@1", signal());
      const refused = await codeOf(loader.acquire("registry:smol-b@1", signal()));
      expect(refused.code).toBe(Code.ResourceExhausted);
      a.release();
      const b = await loader.acquire("registry:smol-b@1", signal());
      expect(loader.loaded().map((m) => m.id)).toEqual(["registry:smol-b@1"]);
      const res = await b.provider.generate({ upstreamModel: b.upstreamModel, messages: CAPITAL, params: { stop: [], maxTokens: 24 }, signal: signal() });
      expect(res.text).toContain("Paris");
      b.release();
    } finally {
      await loader.close();
    }
  });

  it("parses registry model ids into a name and a version, alias or latest", () => {
    expect(parseRegistryModelId("registry:smol@10")).toEqual({ name: "smol", selector: { case: "version", value: "10" } });
    expect(parseRegistryModelId("registry:smol@1.10.0")).toEqual({ name: "smol", selector: { case: "version", value: "1.10.0" } });
    expect(parseRegistryModelId("registry:smol@champion")).toEqual({ name: "smol", selector: { case: "alias", value: "champion" } });
    expect(parseRegistryModelId("registry:smol")).toEqual({ name: "smol", selector: { case: undefined } });
    expect(parseRegistryModelId("registry:smol@latest")).toEqual({ name: "smol", selector: { case: undefined } });
    expect(() => parseRegistryModelId("registry:smol@")).toThrow(/registry:<name>@<version>/);
  });
});
