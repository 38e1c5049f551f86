// Vitest global setup: a private Redis for the whole run, unless OPENLOOP_TEST_REDIS_URL
// already points at one. Workers inherit the variable.
import { spawnSync } from "node:child_process";
import { startRedis } from "./redis.js";

export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.OPENLOOP_TEST_REDIS_URL) return async () => {};
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).error) {
    throw new Error(
      "redis-server is not installed: tests need it (run `npm test`, which installs it, or `apt-get install redis-server`), " +
        "or set OPENLOOP_TEST_REDIS_URL to a Redis to use",
    );
  }
  let lastError: unknown;
  // A free port can be taken between choosing it and binding it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const redis = await startRedis(["--protected-mode", "yes"]);
      process.env.OPENLOOP_TEST_REDIS_URL = redis.url;
      return async () => {
        delete process.env.OPENLOOP_TEST_REDIS_URL;
        await redis.stop();
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`could not start a private redis-server: ${String(lastError)}`);
}
