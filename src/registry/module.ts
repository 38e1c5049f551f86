// Builds the registry service from its config and dependencies.
import type { Config } from "../config.js";
import type { PlatformContext, ServiceModule } from "../platform/module.js";

export async function createRegistryModule(_config: Config, _ctx: PlatformContext): Promise<ServiceModule> {
  return { serviceNames: [], routes() {}, async close() {} };
}
