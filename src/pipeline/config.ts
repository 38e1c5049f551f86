// Settings of the pipeline service, the `pipeline:` section of the config file.
import { z } from "zod";

export const pipelineConfigSchema = z.object({}).strict().default({});

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
