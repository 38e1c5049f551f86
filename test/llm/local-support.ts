// Helpers for the in-process model tests: the embedded GGUF, fetched like the start command
// does, and an independent count of templated prompt tokens straight from node-llama-cpp.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { getLlama, JinjaTemplateChatWrapper, type ChatHistoryItem, type LlamaModel } from "node-llama-cpp";
import { EMBEDDED_MODEL_PATH } from "../../src/llm/config.js";
import type { ChatMessage } from "../../src/llm/providers/provider.js";

export const MODEL_PATH = path.resolve(EMBEDDED_MODEL_PATH);

/** Runs scripts/fetch-model.sh (a no-op when the verified file is already there). */
export function ensureModel(): string {
  execFileSync("bash", [path.resolve("scripts/fetch-model.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  return MODEL_PATH;
}

/** The model's tokenizer and chat template, loaded without weights. */
export class ReferenceTokenizer {
  private constructor(
    private readonly model: LlamaModel,
    private readonly template: JinjaTemplateChatWrapper,
  ) {}

  static async load(modelPath = MODEL_PATH): Promise<ReferenceTokenizer> {
    const llama = await getLlama({ build: "never", gpu: false });
    const model = await llama.loadModel({ modelPath, vocabOnly: true });
    const template = model.fileInfo.metadata.tokenizer.chat_template;
    if (!template) throw new Error(`${modelPath} has no chat template`);
    return new ReferenceTokenizer(model, new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer }));
  }

  /** Tokens of the prompt the messages render to, ending with the opened assistant turn. */
  promptTokens(messages: ChatMessage[]): number {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content },
    );
    history.push({ type: "model", response: [] });
    return this.template.generateContextState({ chatHistory: history }).contextText.tokenize(this.model.tokenizer).length;
  }

  /** Tokens of plain text (no special tokens). */
  textTokens(text: string): number {
    return this.model.tokenize(text).length;
  }

  async close(): Promise<void> {
    await this.model.dispose();
  }
}

/** A question SmolLM2-135M answers briefly and correctly with greedy decoding. */
export const CAPITAL: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is the capital of France?" },
];

/** A prompt the model answers at length, for cancellation and queueing. */
export const STORY: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Write a long story about a dragon who learns to bake bread." },
];
