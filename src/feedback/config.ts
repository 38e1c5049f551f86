// Settings of the feedback service, the `feedback:` section of the config file.
import { z } from "zod";

export const feedbackConfigSchema = z.object({}).strict().default({});

export type FeedbackConfig = z.infer<typeof feedbackConfigSchema>;
