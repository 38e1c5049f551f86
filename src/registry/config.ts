// Settings of the registry service, the `registry:` section of the config file.
import { z } from "zod";

export const registryConfigSchema = z.object({}).strict().default({});

export type RegistryConfig = z.infer<typeof registryConfigSchema>;
