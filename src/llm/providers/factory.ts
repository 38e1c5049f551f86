// Builds each configured provider once, in the composition root of the llm module.
import type { LlmProviderConfig } from "../config.js";
import { AnthropicProvider } from "./anthropic.js";
import { CohereProvider } from "./cohere.js";
import { OpenAIProvider } from "./openai.js";
import type { Provider } from "./provider.js";

/** In-process GGUF providers come from llm-local's code; passed in so this file stays remote-only. */
export type LocalProviderFactory = (name: string, modelPath: string) => Provider;

export function createProvider(name: string, cfg: LlmProviderConfig, local: LocalProviderFactory): Provider {
  const common = { apiKey: cfg.apiKey, baseUrl: cfg.baseUrl, timeoutMs: cfg.timeoutMs };
  switch (cfg.kind) {
    case "openai":
    case "huggingface":
    case "openai-compatible":
      return new OpenAIProvider(name, { flavour: cfg.kind, ...common });
    case "anthropic":
      return new AnthropicProvider(name, common);
    case "cohere":
      return new CohereProvider(name, common);
    case "llama-cpp":
      return local(name, cfg.modelPath!);
  }
}
