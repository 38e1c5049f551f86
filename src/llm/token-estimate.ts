// Token counts before a call, where no tokenizer is at hand (the upstream's is not, and the
// local model's needs the model loaded): about 4 characters a token for English prose with
// GPT-style and Llama-style tokenizers (code and most other languages use fewer characters a
// token, so the estimate can run under). Used where an estimate is enough: per-provider
// tokensPerMinute reservations (corrected by the usage the upstream reports) and the pipeline's
// truncate step.

export const CHARS_PER_TOKEN_ESTIMATE = 4;

/** Estimated tokens of some texts (a chat's message contents, an embedding's inputs). */
export function estimateTokens(texts: Iterable<string>): number {
  let chars = 0;
  for (const t of texts) chars += t.length;
  return Math.ceil(chars / CHARS_PER_TOKEN_ESTIMATE);
}
