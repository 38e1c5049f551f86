// The Go bench client of the feature bench (bench/go/featureclient): the repository's generated
// Go client (clients/go) calling from one goroutine, timing each call itself. Built with `go build`
// into a cache outside the clone, keyed by a hash of its sources and the client's, so later runs
// and other clones reuse it.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../../test/support/tools.js";

const SRC = path.join(ROOT, "bench/go/featureclient");
const CLIENT = path.join(ROOT, "clients/go");

export interface GoClientResult {
  readonly count: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : /\.go$|^go\.(mod|sum)$/.test(e.name) ? [path.join(dir, e.name)] : []))
    .sort();
}

let built: Promise<string> | undefined;

/** The built binary's path (builds it on first use). */
export function goFeatureClient(): Promise<string> {
  built ??= (async () => {
    const hash = createHash("sha256");
    for (const f of [...sourceFiles(SRC), ...sourceFiles(CLIENT)]) hash.update(path.relative(ROOT, f)).update("\0").update(readFileSync(f));
    const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "openloop", "bench-go");
    const bin = path.join(dir, `featureclient-${hash.digest("hex").slice(0, 16)}`);
    if (existsSync(bin)) return bin;
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    await new Promise<void>((resolve, reject) =>
      execFile("go", ["build", "-o", tmp, "."], { cwd: SRC }, (err, _o, stderr) => (err ? reject(new Error(`go build of the bench client failed (is Go installed?): ${stderr || err.message}`)) : resolve())),
    );
    renameSync(tmp, bin);
    return bin;
  })();
  return built;
}

/**
 * The client's own garbage collector held off (unless the caller sets GOGC): its heap is nearly
 * empty, so Go's 4 MB minimum heap goal made it collect every ~20 batches of 100 entities, and
 * those collections (a third core's worth of marking on two cores, assists in the timed
 * goroutine) added 0.7–1 ms to BatchGetFeatures' p99 (GOGC=off against 100, alternated:
 * 3.04/3.35 against 4.02/3.79 ms). A run of a few seconds allocates a few hundred MB; past
 * GOMEMLIMIT it collects again.
 */
const CLIENT_GC = { GOGC: process.env.GOGC ?? "off", GOMEMLIMIT: process.env.GOMEMLIMIT ?? "1GiB" };

/** One run of the Go client at concurrency 1: `get`, `batch` (100 keys) or `health`. */
export async function runGoFeatureClient(port: number, method: "get" | "batch" | "health", opts: { seconds: number; entities: number; batch: number; gogc?: string }): Promise<GoClientResult> {
  const bin = await goFeatureClient();
  const args = ["-addr", `127.0.0.1:${port}`, "-method", method, "-seconds", String(opts.seconds), "-entities", String(opts.entities), "-batch", String(opts.batch)];
  return new Promise<GoClientResult>((resolve, reject) =>
    execFile(bin, args, { env: { ...process.env, ...CLIENT_GC, ...(opts.gogc ? { GOGC: opts.gogc } : {}) } }, (err, stdout, stderr) => (err ? reject(new Error(`Go bench client failed: ${stderr || err.message}`)) : resolve(JSON.parse(stdout) as GoClientResult))),
  );
}
