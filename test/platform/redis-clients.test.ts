// One Redis client policy: every ioredis client in src/ is built by src/platform/redis.ts, so
// no module can quietly bring back an offline queue, retries or its own timeouts.
import { readdirSync, readFileSync } from "node:fs";
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
  return text.split("\n").filter((line) => /\bnew\s+(Redis|Cluster|IORedis)\s*\(/.test(line));
}

test("no ioredis client is constructed outside src/platform/redis.ts", () => {
  const offenders = sources(SRC)
    .filter((f) => path.relative(SRC, f) !== POLICY)
    .flatMap((f) => redisConstructions(readFileSync(f, "utf8")).map((line) => `${path.relative(SRC, f)}: ${line.trim()}`));
  expect(offenders).toEqual([]);
  // The scan itself sees what it must refuse.
  expect(redisConstructions('const r = new Redis(url, { maxRetriesPerRequest: 2 });')).toHaveLength(1);
  expect(redisConstructions('this.c = new Cluster(nodes);')).toHaveLength(1);
  expect(redisConstructions("if (c instanceof Cluster) return;")).toHaveLength(0);
  expect(redisConstructions(readFileSync(path.join(SRC, POLICY), "utf8")).length).toBeGreaterThan(0);
});
