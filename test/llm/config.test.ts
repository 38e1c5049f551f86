// The llm section of the config: the embedded default, the catalog's checks, API keys from the environment.
import { afterAll, describe, expect, it } from "vitest";
import { ModelSource } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { loadConfig, parseConfig } from "../../src/config.js";
import { Catalog } from "../../src/llm/catalog.js";
import { EMBEDDED_MODEL_ID } from "../../src/llm/config.js";
import { startLlmServer, type LlmServer } from "./helpers.js";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const servers: LlmServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe("with no llm configuration", () => {
  it("lists the embedded smollm2-135m-instruct model, served by the local provider", async () => {
    const llm = await startLlmServer(undefined);
    servers.push(llm);
    const { models } = await llm.client.listModels({});
    expect(models).toContainEqual(
      expect.objectContaining({ id: EMBEDDED_MODEL_ID, provider: "local", source: ModelSource.CATALOG, upstreamModel: EMBEDDED_MODEL_ID }),
    );
  });
});

describe("catalog", () => {
  const providers = new Set(["openai", "anthropic"]);
  const model = (id: string, provider: string, extra: Record<string, unknown> = {}) => ({ id, provider, aliases: [], fallbacks: [], ...extra });

  it("resolves ids, aliases and '<provider>/<model>' names", () => {
    const c = new Catalog([model("gpt", "openai", { upstreamModel: "gpt-4o", aliases: ["default"] })], providers);
    expect(c.resolve("gpt")).toMatchObject({ model: "gpt", provider: "openai", upstreamModel: "gpt-4o" });
    expect(c.resolve("default")?.model).toBe("gpt");
    expect(c.resolve("anthropic/claude-x")).toMatchObject({ provider: "anthropic", upstreamModel: "claude-x" });
    expect(c.resolve("nobody/claude-x")).toBeUndefined();
    expect(c.resolve("unknown")).toBeUndefined();
  });

  it("orders a model's fallbacks after it, each once", () => {
    const c = new Catalog(
      [model("a", "openai", { fallbacks: ["b", "c", "bee"] }), model("b", "anthropic", { aliases: ["bee"] }), model("c", "openai")],
      providers,
    );
    expect(c.chain(c.resolve("a")!).map((r) => r.model)).toEqual(["a", "b", "c"]);
  });

  it("rejects a model whose provider is not configured", () => {
    expect(() => new Catalog([model("x", "cohere")], providers)).toThrow(/provider 'cohere' is not in llm.providers/);
  });

  it("rejects a fallback that names no model", () => {
    expect(() => new Catalog([model("x", "openai", { fallbacks: ["y"] })], providers)).toThrow(/fallback 'y'/);
  });

  it("rejects an alias that names two models", () => {
    expect(() => new Catalog([model("x", "openai", { aliases: ["same"] }), model("y", "openai", { aliases: ["same"] })], providers)).toThrow(
      /'same' names two models/,
    );
  });
});

describe("config file", () => {
  it("reads API keys from the environment variable the file names", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-llm-config-"));
    try {
      const file = path.join(dir, "openloop.yaml");
      await writeFile(
        file,
        ["llm:", "  providers:", "    openai:", "      kind: openai", "      apiKeyEnv: MY_OPENAI_KEY", "  models:", "    - id: gpt", "      provider: openai", ""].join("\n"),
      );
      const config = loadConfig({ OPENLOOP_CONFIG: file, MY_OPENAI_KEY: "sk-from-env-123" }, dir);
      expect(config.llm.providers?.openai.apiKey).toBe("sk-from-env-123");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("requires a base URL for OpenAI-compatible servers", () => {
    expect(() => parseConfig({ llm: { providers: { ollama: { kind: "openai-compatible" } } } })).toThrow(/baseUrl/);
  });

  it("fills in retry and cache defaults", () => {
    const config = parseConfig({ llm: { providers: {}, models: [] } });
    expect(config.llm.retry.maxAttempts).toBe(3);
    expect(config.llm.cache).toMatchObject({ enabled: true, backend: "memory" });
  });
});
