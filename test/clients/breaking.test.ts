// Clients build on the contract: `buf breaking` of proto/ against the last released contract
// (contract/v*.binpb) keeps every change to it additive.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, run } from "../support/tools.js";

const buf = path.join(ROOT, "node_modules", ".bin", "buf");

async function lastRelease(): Promise<string> {
  const versions = (await readdir(path.join(ROOT, "contract")))
    .map((f) => /^v(\d+)\.(\d+)\.(\d+)\.binpb$/.exec(f))
    .filter((m) => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]) || Number(a[2]) - Number(b[2]) || Number(a[3]) - Number(b[3]));
  expect(versions.length, "contract/ holds no released contract").toBeGreaterThan(0);
  return path.join(ROOT, "contract", versions.at(-1)![0]);
}

describe("the contract in proto/ against the last release", () => {
  it("has no breaking change (buf breaking)", async () => {
    const r = await run(buf, ["breaking", "--against", await lastRelease()]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("would fail on a renamed field (the check is live)", async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-breaking-"));
    try {
      await cp(path.join(ROOT, "proto"), path.join(tmp, "proto"), { recursive: true });
      await cp(path.join(ROOT, "buf.yaml"), path.join(tmp, "buf.yaml"));
      const file = path.join(tmp, "proto/openloop/feature/v1/feature_service.proto");
      const source = await readFile(file, "utf8");
      expect(source).toContain("string entity_key = 2;");
      await writeFile(file, source.replaceAll("string entity_key = 2;", "string entity_id = 2;"));
      const r = await run(buf, ["breaking", "--against", await lastRelease()], { cwd: tmp });
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('changed name from "entity_key" to "entity_id"');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
