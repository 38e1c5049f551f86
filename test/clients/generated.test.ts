// The client packages' generated code is committed; regenerating it from proto/ with the pinned
// plugins must give the same bytes (as test/contract/buf.test.ts checks for gen/).
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, run } from "../support/tools.js";

/** Files under dir, relative and sorted, without Python's bytecode caches. */
async function files(dir: string, keep: (rel: string) => boolean = () => true): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((rel) => !rel.split(path.sep).includes("__pycache__") && keep(rel))
    .sort();
}

const FIX = "run `bash scripts/generate-clients.sh` and commit the result";

describe("the committed client code", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-clients-gen-"));
    const r = await run("bash", [path.join(ROOT, "scripts/generate-clients.sh"), "--out", tmp], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
  }, 320_000);
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  // Python: every subdirectory of the openloop package is generated; the files beside them are not.
  const generatedOnly = (rel: string) => rel.includes(path.sep);
  for (const [dir, keep] of [
    ["clients/go/gen", undefined],
    ["clients/python/src/openloop", generatedOnly],
  ] as const) {
    it(`${dir} matches a fresh generation byte for byte`, async () => {
      const fresh = await files(path.join(tmp, dir), keep);
      expect(fresh.length).toBeGreaterThan(0);
      expect(await files(path.join(ROOT, dir), keep), `${dir} differs from a fresh generation: ${FIX}`).toEqual(fresh);
      for (const file of fresh) {
        const a = await readFile(path.join(tmp, dir, file), "utf8");
        const b = await readFile(path.join(ROOT, dir, file), "utf8");
        expect(b, `${dir}/${file} is stale: ${FIX}`).toBe(a);
      }
    });
  }
});
