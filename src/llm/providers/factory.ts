// Builds each configured provider once, in the composition root of the llm module.
import type { LlmProviderConfig } from "../config.js";
import { lazyProvider } from "./lazy.js";
import type { Provider } from "./provider.js";

/** In-process GGUF providers come from llm-local's code; passed in so this file stays remote-only. */
export type LocalProviderFactory = (name: string, modelPath: string) => Provider;

export function createProvider(name: string, cfg: LlmProviderConfig, local: LocalProviderFactory): Provider {
  const common = { apiKey: cfg.apiKey, baseUrl: cfg.baseUrl, timeoutMs: cfg.timeoutMs };
  switch (cfg.kind) {
    case "openai":
    case "huggingface":
    case "openai-compatible": {
      const flavour = cfg.kind;
      return lazyProvider(name, async () => new (await import("./openai.js")).OpenAIProvider(name, { flavour, ...common }), { canList: true, canEmbed: true });
    }
    case "anthropic":
      return lazyProvider(name, async () => new (await import("./anthropic.js")).AnthropicProvider(name, common), { canList: true });
    case "cohere":
      return lazyProvider(name, async () => new (await import("./cohere.js")).CohereProvider(name, common), { canList: true, canEmbed: true });
    case "llama-cpp":
      return local(name, cfg.modelPath!);
  }
}
