// Settings of the feature service, the `feature:` section of the config file.
import { z } from "zod";

export const featureConfigSchema = z.object({}).strict().default({});

export type FeatureConfig = z.infer<typeof featureConfigSchema>;
