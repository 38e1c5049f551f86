// One Redis client policy: every ioredis client in src/ is built by src/platform/redis.ts, so
// no module can quietly bring back an offline queue, retries or its own timeouts.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "vitest";

const SRC = path.resolve(import.meta.dirname, "../../src");
const POLICY = path.join("platform", "redis.ts");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(ts|js|mts|cts)$/.test(e.name) ? [p] : [];
  });
}

/** Lines that construct an ioredis client. */
function redisConstructions(text: string): string[] {
  return text.split("\n").filter((line) => /\bnew\s+(\(\s*ioredis\(\)\.)?(Redis|Cluster|IORedis)\b/.test(line));
}

test("no ioredis client is constructed outside src/platform/redis.ts", () => {
  const offenders = sources(SRC)
    .filter((f) => path.relative(SRC, f) !== POLICY)
    .flatMap((f) => redisConstructions(readFileSync(f, "utf8")).map((line) => `${path.relative(SRC, f)}: ${line.trim()}`));
  expect(offenders).toEqual([]);
  // The scan itself sees what it must refuse.
  expect(redisConstructions('const r = new Redis(url, { maxRetriesPerRequest: 2 });')).toHaveLength(1);
  expect(redisConstructions('this.c = new Cluster(nodes);')).toHaveLength(1);
  expect(redisConstructions('const r = new (ioredis().Redis)(url);')).toHaveLength(1);
  expect(redisConstructions("if (c instanceof Cluster) return;")).toHaveLength(0);
  expect(redisConstructions(readFileSync(path.join(SRC, POLICY), "utf8")).length).toBeGreaterThan(0);
});

test("the policy's settings come from redis.* and the environment, over the file's url", async () => {
  const { loadConfig, parseConfig } = await import("../../src/config.js");
  expect(parseConfig({ redis: { url: "redis://127.0.0.1:6390" } }).redis).toEqual({ url: "redis://127.0.0.1:6390", commandTimeoutMs: 1000, connectTimeoutMs: 2000 });
  const dir = mkdtempSync(path.join(os.tmpdir(), "openloop-redis-config-"));
  writeFileSync(path.join(dir, "openloop.yaml"), "redis:\n  url: redis://127.0.0.1:6390\n  connectTimeoutMs: 500\n");
  const config = loadConfig({ OPENLOOP_CONFIG: path.join(dir, "openloop.yaml"), OPENLOOP_REDIS_COMMAND_TIMEOUT_MS: "250" }, dir);
  expect(config.redis).toEqual({ url: "redis://127.0.0.1:6390", commandTimeoutMs: 250, connectTimeoutMs: 500 });
  // Without a Redis there is nothing to tune: the embedded default still starts.
  expect(loadConfig({ OPENLOOP_REDIS_COMMAND_TIMEOUT_MS: "250" }, mkdtempSync(path.join(dir, "empty-"))).redis).toBeUndefined();
  expect(() => loadConfig({ OPENLOOP_REDIS_URL: "redis://127.0.0.1:6390", OPENLOOP_REDIS_COMMAND_TIMEOUT_MS: "soon" }, mkdtempSync(path.join(dir, "bad-")))).toThrow(/redis.commandTimeoutMs/);
});
