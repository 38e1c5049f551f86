// The server implements the generated service types: a contract change that the code does
// not follow (a renamed field, a new RPC left out) fails here, not at run time.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, run } from "../support/tools.js";

describe("the TypeScript sources", () => {
  it("type-check against gen/ with tsc", async () => {
    const r = await run(path.join(ROOT, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "."]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 180_000);
});
