// Settings of the llm service, the `llm:` section of the config file.
import { z } from "zod";

export const llmConfigSchema = z.object({}).strict().default({});

export type LlmConfig = z.infer<typeof llmConfigSchema>;
