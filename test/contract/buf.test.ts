import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, run } from "../support/tools.js";

const buf = path.join(ROOT, "node_modules", ".bin", "buf");

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe("the contract in proto/", () => {
  it("passes buf lint", async () => {
    const r = await run(buf, ["lint"]);
    expect(r.stderr + r.stdout).toBe("");
    expect(r.code).toBe(0);
  });

  it("matches the committed gen/ byte for byte when generated again", async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-gen-"));
    try {
      const r = await run(buf, ["generate", "-o", tmp]);
      expect(r.code, r.stderr).toBe(0);
      const fresh = await listFiles(path.join(tmp, "gen"));
      const committed = await listFiles(path.join(ROOT, "gen"));
      expect(committed, "gen/ differs from `buf generate`: run `npx buf generate` and commit gen/").toEqual(fresh);
      for (const file of fresh) {
        const a = await readFile(path.join(tmp, "gen", file), "utf8");
        const b = await readFile(path.join(ROOT, "gen", file), "utf8");
        expect(b, `gen/${file} is stale: run \`npx buf generate\``).toBe(a);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
