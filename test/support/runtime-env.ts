// deploy/runtime.env, the production server's process settings, for tests and benches that start
// the compiled server as production does (the same rules as export_runtime_env in scripts/lib.sh).
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./tools.js";

/** The file's KEY=VALUE lines, in order. */
export function runtimeSettings(): [string, string][] {
  return readFileSync(path.join(ROOT, "deploy", "runtime.env"), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]);
}

/** The environment to add to `base` (NODE_OPTIONS appended to base's, other keys only where base has none). */
export function runtimeEnv(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of runtimeSettings()) {
    if (key === "NODE_OPTIONS") env[key] = base.NODE_OPTIONS ? `${base.NODE_OPTIONS} ${value}` : value;
    else if (base[key] === undefined) env[key] = value;
  }
  return env;
}
