// Maps the gateway's chat messages to node-llama-cpp's chat history.
import type { ChatHistoryItem } from "node-llama-cpp";
import type { ChatMessage } from "../providers/provider.js";

/**
 * System, user and assistant messages in order. When the last message is from the assistant,
 * the model continues that message (a prefill, as Anthropic's API does); otherwise an empty
 * assistant turn is opened for the model to write.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    switch (m.role) {
      case "system":
        return { type: "system", text: m.content };
      case "user":
        return { type: "user", text: m.content };
      case "assistant":
        return { type: "model", response: [m.content] };
    }
  });
  if (history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}
