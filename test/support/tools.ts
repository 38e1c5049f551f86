// Locates and runs external tools (grpcurl, buf, the Python venv) for tests.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

/** Absolute path of a command from PATH or Go's bin dir; throws naming the install step when absent. */
export function findTool(name: string, installHint: string): string {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), path.join(process.env.GOPATH ?? path.join(os.homedir(), "go"), "bin")];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed: ${installHint} (npm test installs it)`);
}

export function grpcurlPath(): string {
  return findTool("grpcurl", "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4");
}

export function venvPython(): string {
  const python = path.join(ROOT, ".venv", "bin", "python");
  if (!existsSync(python)) throw new Error("the Python venv .venv is missing: run `npm test` (or scripts/test.sh), which creates it with grpcio and grpcio-tools");
  return python;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit (the result says). */
export function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}
