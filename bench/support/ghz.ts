// Runs ghz (the Go gRPC load generator) and reads its JSON report.
import { execFile } from "node:child_process";
import { findTool } from "../../test/support/tools.js";
import { cpuMicros } from "./proc.js";

export interface GhzCall {
  /** Fully-qualified method, e.g. grpc.health.v1.Health/Check. */
  readonly call: string;
  /** Request as JSON. */
  readonly data: string;
  /** A protoset (buf build -o) or a .proto with its import path. */
  readonly protoset?: string;
  readonly proto?: { readonly file: string; readonly importPath: string };
  readonly metadata?: Record<string, string>;
}

export interface GhzResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls that ended OK. */
  readonly count: number;
  /** Calls that failed for another reason than ghz stopping them at the end. */
  readonly errors: number;
  readonly errorKinds: string[];
  /** Server CPU time per OK call, in µs (when a pid was given). */
  readonly cpuUsPerCall: number;
}

interface GhzReport {
  rps: number;
  count: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number>;
  errorDistribution?: Record<string, number> | null;
}

/** Load for `seconds` at `concurrency` on one connection; measures the server's CPU when `pid` is given. */
export async function ghz(port: number, call: GhzCall, opts: { seconds: number; concurrency: number; pid?: number }): Promise<GhzResult> {
  const args = [
    "--insecure",
    ...(call.protoset ? ["--protoset", call.protoset] : call.proto ? ["--proto", call.proto.file, "--import-paths", call.proto.importPath] : []),
    "--call", call.call,
    "-d", call.data,
    "-c", String(opts.concurrency),
    "-z", `${opts.seconds}s`,
    "-O", "json",
    ...(call.metadata ? ["-m", JSON.stringify(call.metadata)] : []),
    `127.0.0.1:${port}`,
  ];
  const before = opts.pid ? cpuMicros(opts.pid) : 0;
  const r = await new Promise<GhzReport>((resolve, reject) => {
    execFile(findTool("ghz", "go install github.com/bojand/ghz/cmd/ghz@v0.93.0"), args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !stdout) return reject(new Error(`ghz failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as GhzReport);
    });
  });
  const cpu = opts.pid ? cpuMicros(opts.pid) - before : 0;
  const pct = (p: number) => (r.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
  // ghz cancels the calls still in flight when the duration is over: those are not errors,
  // nor those it reports as "transport is closing" when it closes the connection at the end.
  const ok = r.statusCodeDistribution.OK ?? 0;
  const canceled = r.statusCodeDistribution.Canceled ?? 0;
  const closing = Object.entries(r.errorDistribution ?? {}).reduce((n, [k, v]) => (k.includes("transport is closing") ? n + v : n), 0);
  const errorKinds = Object.keys(r.errorDistribution ?? {}).filter((k) => !k.includes("code = Canceled") && !k.includes("transport is closing"));
  return { rps: r.rps, p50Ms: pct(50), p99Ms: pct(99), count: ok, errors: r.count - ok - canceled - closing, errorKinds, cpuUsPerCall: cpu / Math.max(1, ok) };
}

let built: Promise<string> | undefined;

/** A protoset of the whole contract (ghz cannot parse proto3 `optional` from .proto files). */
export function contractProtoset(): Promise<string> {
  built ??= (async () => {
    const { mkdtemp } = await import("node:fs/promises");
    const os = await import("node:os");
    const path = await import("node:path");
    const { ROOT } = await import("../../test/support/tools.js");
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), "openloop-protoset-")), "contract.binpb");
    await new Promise<void>((resolve, reject) =>
      execFile(path.join(ROOT, "node_modules/.bin/buf"), ["build", "-o", out], { cwd: ROOT }, (err, _o, stderr) => (err ? reject(new Error(`buf build failed: ${stderr}`)) : resolve())),
    );
    return out;
  })();
  return built;
}
