// Registry transfer bench: upload and download of one artifact (500 MiB by default) through
// the RPCs (gRPC over HTTP/2 to the server in a child process) and by curl through the plain
// HTTP routes (PUT and GET of the artifact's bytes), against a plain file copy with
// fsync on the same disk and against MLflow's artifact server (`mlflow server --serve-artifacts`,
// its own Python client), in alternating rounds in one run, with each server's CPU per transfer
// and openloop's peak memory during each transfer. Prints one markdown section.
//
//   node --import tsx bench/registry.ts [--mb 500] [--rounds 3] [--compiled]
//
// MLflow runs from the virtualenv scripts/install-peer-mlflow.sh makes (skipped without it).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RegisterModelVersionRequestSchema, RegistryService, type RegisterModelVersionRequest } from "../gen/openloop/registry/v1/registry_service_pb.js";
import { runtimeEnv } from "../test/support/runtime-env.js";
import { spawnServer } from "../test/support/spawn.js";
import { freePort } from "../test/support/redis.js";
import { ROOT } from "../test/support/tools.js";
import { median, resetPeakRss, statusBytes } from "./support/proc.js";
import { pythonGrpcInstalled, pythonGrpcTransfer, pythonHttpTransfer, runPythonClient, type PythonResult } from "./support/registry-python.js";
import { grpcJsClient, grpcJsDownload as grpcJsDownloadChunks, grpcJsRegister } from "./support/registry-grpc-js.js";

const MiB = 1024 * 1024;
const MB = 1e6;
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SIZE_MB = flag("--mb", 500);
const ROUNDS = flag("--rounds", 3);
const COMPILED = process.argv.includes("--compiled");
// --direct-io false|true: the server's registry.directIo, for an A/B of the two (its default otherwise).
const DIRECT_IO = (() => {
  const i = process.argv.indexOf("--direct-io");
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value !== "true" && value !== "false") throw new Error("--direct-io takes true or false");
  return value === "true";
})();
const SIZE = SIZE_MB * MiB;
const IO_CHUNK = MiB;
// Upload chunks a few bytes under 1 MiB, so each whole message (payload, tag, length) fits
// protobuf-es's doubling write buffer at 1 MiB instead of growing it to 2 MiB.
const UPLOAD_CHUNK = MiB - 16;
const MLFLOW_VERSION = process.env.MLFLOW_VERSION ?? "3.17.2"; // 3.18.0 does not install: scripts/install-peer-mlflow.sh
const MLFLOW_VENV = path.join(process.env.OPENLOOP_PEERS_DIR ?? path.join(os.homedir(), ".cache/openloop/peers"), `mlflow-${MLFLOW_VERSION}`);
const TARGETS = { vsCopy: 0.7, vsMlflow: 1, peakRssBytes: 150 * MB };

interface Transfer {
  readonly seconds: number;
  /** CPU seconds of the server (all its processes), from /proc. */
  readonly serverCpu: number;
  /** CPU seconds of the client. */
  readonly clientCpu: number;
  /** Peak resident memory of the server during the transfer (openloop only). */
  readonly peakRss?: number;
}

type Path = "copy" | "copy down" | "openloop up" | "openloop http up" | "openloop http down" | "openloop pyhttp up" | "openloop pyhttp down" | "openloop down" | "openloop js up" | "openloop js down" | "openloop py up" | "openloop py down" | "mlflow up" | "mlflow down";

// ---- /proc ------------------------------------------------------------------------------

/** CPU seconds (user + system) of a process and all its descendants (MLflow's workers). */
function treeCpuSeconds(root: number): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(entry), Number(fields[1]));
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / 100); // utime + stime, USER_HZ = 100
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  for (const [pid, seconds] of cpu) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        total += seconds;
        break;
      }
    }
  }
  return total;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Times fn and measures the CPU it costs a server (tree) and this process. */
async function measure(serverPid: number | undefined, fn: () => Promise<void>, peakOf?: number): Promise<Transfer> {
  if (peakOf !== undefined) resetPeakRss(peakOf);
  const server0 = serverPid === undefined ? 0 : treeCpuSeconds(serverPid);
  const own0 = ownCpuSeconds();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    serverCpu: serverPid === undefined ? 0 : treeCpuSeconds(serverPid) - server0,
    clientCpu: ownCpuSeconds() - own0,
    peakRss: peakOf === undefined ? undefined : statusBytes(peakOf, "VmHWM"),
  };
}

// ---- the source file and the baseline ----------------------------------------------------

/** Writes SIZE random bytes to file; returns the SHA-256. */
async function makeSource(file: string): Promise<string> {
  const hash = createHash("sha256");
  const fh = await open(file, "w");
  try {
    for (let left = SIZE; left > 0; left -= IO_CHUNK) {
      const b = randomBytes(Math.min(IO_CHUNK, left));
      hash.update(b);
      await fh.write(b);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  const fh = await open(file, "r");
  try {
    const buf = Buffer.allocUnsafe(IO_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, IO_CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}

/** The baseline: read the source and write a copy in 1 MiB blocks, then fsync (as the registry does). */
async function plainCopy(from: string, to: string): Promise<void> {
  const src = await open(from, "r");
  const dst = await open(to, "w");
  try {
    const buf = Buffer.allocUnsafe(IO_CHUNK);
    for (;;) {
      const { bytesRead } = await src.read(buf, 0, IO_CHUNK, null);
      if (bytesRead === 0) break;
      await dst.write(buf, 0, bytesRead);
    }
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
}

// ---- openloop -----------------------------------------------------------------------------

async function* uploadRequests(file: string, version: string, name = "bench"): AsyncGenerator<RegisterModelVersionRequest> {
  yield create(RegisterModelVersionRequestSchema, { part: { case: "header", value: { name, version, type: "gguf" } } });
  const fh = await open(file, "r");
  try {
    for (;;) {
      const data = Buffer.allocUnsafe(UPLOAD_CHUNK);
      const { bytesRead } = await fh.read(data, 0, UPLOAD_CHUNK, null);
      if (bytesRead === 0) return;
      yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName: "model.gguf", data: data.subarray(0, bytesRead) } } });
    }
  } finally {
    await fh.close();
  }
}

type Client = ReturnType<typeof createClient<typeof RegistryService>>;

async function openloopUpload(client: Client, source: string, version: string, digest: string): Promise<void> {
  const res = await client.registerModelVersion(uploadRequests(source, version));
  if (res.modelVersion?.artifacts[0]?.sha256 !== digest) throw new Error("uploaded digest differs from the source");
}

/** Downloads into a file as a careful user does (src/llm/registry-models.ts): hash while writing, fsync, compare. */
async function openloopDownload(client: Client, version: string, to: string, digest: string): Promise<void> {
  const out = await open(to, "w");
  const hash = createHash("sha256");
  let got = 0;
  try {
    for await (const m of client.downloadArtifact({ name: "bench", selector: { case: "version", value: version } })) {
      if (m.part.case !== "data") continue;
      hash.update(m.part.value);
      got += m.part.value.byteLength;
      await out.write(m.part.value);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  if (got !== SIZE || hash.digest("hex") !== digest) throw new Error("downloaded bytes differ from the source");
}

// ---- openloop from grpc-js -------------------------------------------------------------------

async function grpcJsUpload(client: grpc.Client, file: string, version: string, digest: string): Promise<void> {
  const res = await grpcJsRegister(client, uploadRequests(file, version, "bench-js"));
  if (res.modelVersion?.artifacts[0]?.sha256 !== digest) throw new Error("uploaded digest differs from the source");
}

async function grpcJsDownload(client: grpc.Client, version: string, to: string, digest: string): Promise<void> {
  const out = await open(to, "w");
  const hash = createHash("sha256");
  let got = 0;
  try {
    await grpcJsDownloadChunks(client, "bench-js", version, async (data) => {
      hash.update(data);
      got += data.byteLength;
      await out.write(data);
    });
    await out.sync();
  } finally {
    await out.close();
  }
  if (got !== SIZE || hash.digest("hex") !== digest) throw new Error("downloaded bytes differ from the source");
}

// ---- openloop over HTTP PUT ------------------------------------------------------------------

const CURL = ["/usr/bin/curl", "/usr/local/bin/curl"].find((c) => existsSync(c));

/** Runs a bash script with curl as $0; resolves with its stdout, which ends with the shell's `times`. */
function curlScript(script: string, args: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn("bash", ["-c", `${script} && times`, CURL!, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`curl exited with ${code}: ${err.slice(0, 300)}`))));
  });
}

/** The children's (curl's, sync's) CPU seconds from the last line of `times`: "0m0.012s 0m0.345s". */
function childrenCpu(times: string): number {
  const [user, system] = times.trim().split("\n").at(-1)!.split(/\s+/).map((t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return user! + system!;
}

/** The artifact PUT as it is (src/registry/http-artifacts.ts) by curl, its digest in Content-Digest, as MLflow's client PUTs the file. */
async function curlUpload(serverPid: number, port: number, file: string, version: string, digest: string): Promise<Transfer> {
  resetPeakRss(serverPid);
  const url = `http://127.0.0.1:${port}/registry/v1/models/bench-http/versions/${version}/artifacts/model.gguf`;
  const out = path.join(path.dirname(file), "put-response.json");
  const server0 = treeCpuSeconds(serverPid);
  const t0 = performance.now();
  const times = await curlScript(`"$0" -sS --fail-with-body -o "$1" -T "$2" -H 'openloop-model-version: {"type":"gguf"}' -H "content-digest: sha-256=:$3:" "$4"`, [
    out, file, Buffer.from(digest, "hex").toString("base64"), url,
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const serverCpu = treeCpuSeconds(serverPid) - server0;
  const body = JSON.parse(readFileSync(out, "utf8")) as { modelVersion?: { artifacts?: { sha256?: string }[] } };
  if (body.modelVersion?.artifacts?.[0]?.sha256 !== digest) throw new Error("the HTTP upload's digest differs from the source");
  return { seconds, serverCpu, clientCpu: childrenCpu(times), peakRss: statusBytes(serverPid, "VmHWM") };
}

/**
 * The artifact's GET by curl into a file, then `sync FILE` (fsync, as the other clients do); the
 * file's digest is checked after the timing, as MLflow's download is (the server re-hashes every
 * byte it sends and cuts the body short on a mismatch, and curl fails on a short body).
 */
async function curlDownload(serverPid: number, port: number, version: string, to: string, digest: string): Promise<Transfer> {
  resetPeakRss(serverPid);
  const url = `http://127.0.0.1:${port}/registry/v1/models/bench-http/versions/${version}/artifacts/model.gguf`;
  const server0 = treeCpuSeconds(serverPid);
  const t0 = performance.now();
  const times = await curlScript(`"$0" -sS --fail -o "$1" "$2" && sync "$1"`, [to, url]);
  const seconds = (performance.now() - t0) / 1000;
  const serverCpu = treeCpuSeconds(serverPid) - server0;
  if ((await sha256File(to)) !== digest) throw new Error("the HTTP download differs from the source");
  return { seconds, serverCpu, clientCpu: childrenCpu(times), peakRss: statusBytes(serverPid, "VmHWM") };
}

// ---- MLflow -------------------------------------------------------------------------------

interface Mlflow {
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  stop(): Promise<void>;
}

// What an MLflow user runs: log_artifact in a run, download_artifacts by run id. Timed inside
// Python, so interpreter start and `import mlflow` are not counted; "start" marks the moment
// the transfer begins, so the server's CPU is read over the transfer only.
const MLFLOW_CLIENT = `
import json, resource, sys, time
import mlflow
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def start():
    print("start", flush=True)
    time.sleep(0.05)
    return cpu(), time.perf_counter()
mode, url = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(url)
if mode == "upload":
    mlflow.set_experiment("openloop-bench")
    with mlflow.start_run() as run:
        c0, t0 = start()
        mlflow.log_artifact(sys.argv[3])
        seconds, used = time.perf_counter() - t0, cpu() - c0
    print(json.dumps({"run_id": run.info.run_id, "seconds": seconds, "cpu": used}), flush=True)
else:
    c0, t0 = start()
    local = mlflow.artifacts.download_artifacts(run_id=sys.argv[3], artifact_path=sys.argv[4], dst_path=sys.argv[5])
    print(json.dumps({"path": local, "seconds": time.perf_counter() - t0, "cpu": cpu() - c0}), flush=True)
`;

async function startMlflow(work: string): Promise<Mlflow | undefined> {
  const bin = path.join(MLFLOW_VENV, "bin", "mlflow");
  if (!existsSync(bin)) return undefined;
  const version = await new Promise<string>((resolve) => {
    const p = spawn(bin, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("close", () => resolve(/(\d+\.\d+\.\d+\S*)/.exec(out)?.[1] ?? "?"));
  });
  const dir = path.join(work, "mlflow");
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    ["server", "--backend-store-uri", `sqlite:///${path.join(dir, "mlflow.db")}`, "--artifacts-destination", path.join(dir, "artifacts"), "--serve-artifacts", "--workers", "1", "--host", "127.0.0.1", "--port", String(port)],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mlflow server exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) throw new Error(`mlflow server did not answer /health within 120 s:\n${log}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    pid: child.pid!,
    version,
    stop: async () => {
      // The workers are its children: signal the whole group it leads (detached above).
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

type MlflowResult = PythonResult;

/** Runs the MLflow client; `onStart` runs when the client is about to transfer. */
function mlflowClient(args: string[], onStart: () => void = () => {}): Promise<MlflowResult> {
  return runPythonClient(path.join(MLFLOW_VENV, "bin", "python"), MLFLOW_CLIENT, args, onStart);
}

/** One MLflow transfer, timed by the client, with the server's CPU from the client's start mark to its end. */
async function mlflowTransfer(server: Mlflow, args: string[]): Promise<Transfer & MlflowResult> {
  let cpu0 = NaN;
  const r = await mlflowClient([args[0]!, server.url, ...args.slice(1)], () => (cpu0 = treeCpuSeconds(server.pid)));
  return { ...r, serverCpu: treeCpuSeconds(server.pid) - cpu0, clientCpu: r.cpu };
}

// ---- openloop from Python (grpcio) ------------------------------------------------------------

// The same transfers from Python's grpcio (bench/support/registry-python.ts), as an ML user would
// run them, and as MLflow's client is Python: upload in chunks read from the file; download into a
// file, hashing, then fsync.
async function pythonTransfer(serverPid: number, port: number, mode: "upload" | "download", version: string, file: string): Promise<Transfer & MlflowResult> {
  let cpu0 = NaN;
  resetPeakRss(serverPid);
  const r = await pythonGrpcTransfer({ mode, port, name: "bench-py", version, file, uploadChunk: UPLOAD_CHUNK }, () => (cpu0 = treeCpuSeconds(serverPid)));
  return { ...r, serverCpu: treeCpuSeconds(serverPid) - cpu0, clientCpu: r.cpu, peakRss: statusBytes(serverPid, "VmHWM") };
}

// The HTTP routes from Python's standard library (bench/support/registry-python.ts): an upload by
// http.client in 1 MiB blocks, a download by urllib and shutil.copyfileobj in 1 MiB reads, then fsync.
async function pythonHttp(serverPid: number, port: number, mode: "upload" | "download", version: string, file: string, digest: string): Promise<Transfer> {
  let cpu0 = NaN;
  resetPeakRss(serverPid);
  const r = await pythonHttpTransfer({ mode, port, name: "bench-pyhttp", version, file, sha256Base64: Buffer.from(digest, "hex").toString("base64") }, () => (cpu0 = treeCpuSeconds(serverPid)));
  const serverCpu = treeCpuSeconds(serverPid) - cpu0;
  if (mode === "upload" ? r.path !== digest : (await sha256File(file)) !== digest) throw new Error(`the Python HTTP ${mode} differs from the source`);
  return { seconds: r.seconds, serverCpu, clientCpu: r.cpu, peakRss: statusBytes(serverPid, "VmHWM") };
}

// ---- the run ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "openloop-bench-registry-"));
  try {
    await run(work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function run(work: string): Promise<void> {
  const results = new Map<Path, Transfer[]>();
  // Each timing starts with no earlier writes pending (`sync`, outside the timing): MLflow's
  // server and its download do not fsync, and their 500 MiB would otherwise be written back
  // during whichever transfer comes 30 s later (vm.dirty_expire_centisecs), on either side.
  const add = async <T extends Transfer>(p: Path, transfer: () => Promise<T>): Promise<T> => {
    execFileSync("sync");
    const t = await transfer();
    results.set(p, [...(results.get(p) ?? []), t]);
    return t;
  };
  const source = path.join(work, "source.bin");
  const digest = await makeSource(source);
  const loadStart = os.loadavg()[0]!;

  // --compiled: the server as production runs it, `node dist/src/main.js` with deploy/runtime.env (npm run build first).
  const server = await spawnServer({
    dataDir: path.join(work, "data"),
    ...(DIRECT_IO !== undefined ? { config: { registry: { directIo: DIRECT_IO } } } : {}),
    ...(COMPILED ? { command: { args: ["dist/src/main.js"], cwd: ROOT }, env: runtimeEnv() } : {}),
  });
  const sessions = new Http2SessionManager(server.baseUrl);
  const client = createClient(RegistryService, createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: sessions }));
  const jsClient = grpcJsClient(server.port);
  let mlflow: Mlflow | undefined;
  let mlflowSkipped: string | undefined;
  try {
    mlflow = await startMlflow(work);
    if (!mlflow) mlflowSkipped = "skipped: MLflow not installed (bash scripts/install-peer-mlflow.sh)";
  } catch (err) {
    mlflowSkipped = `skipped: MLflow did not start (${(err as Error).message.split("\n")[0]})`;
  }
  try {
    // Load every code path once (and MLflow's experiment) before measuring.
    await warmUp(client, work, mlflow);
    const rssIdle = statusBytes(server.pid, "VmRSS");
    for (let round = 1; round <= ROUNDS; round++) {
      const copy = path.join(work, "copy.bin");
      await add("copy", () => measure(undefined, () => plainCopy(source, copy)));
      await rm(copy);

      const version = String(round);
      await add("openloop up", () => measure(server.pid, () => openloopUpload(client, source, version, digest), server.pid));
      const peer = mlflow;
      const runId = peer ? (await add("mlflow up", () => mlflowTransfer(peer, ["upload", source]))).run_id : undefined;

      await add("openloop js up", () => measure(server.pid, () => grpcJsUpload(jsClient, source, version, digest), server.pid));
      if (CURL) await add("openloop http up", () => curlUpload(server.pid, server.port, source, version, digest));
      await add("openloop pyhttp up", () => pythonHttp(server.pid, server.port, "upload", version, source, digest));
      if (pythonGrpcInstalled()) {
        const up = await add("openloop py up", () => pythonTransfer(server.pid, server.port, "upload", version, source));
        if (up.path !== digest) throw new Error("the Python client's upload has another digest");
      }

      // The downloads' own baseline, taken just before them: by now the round has written 2-3 GB,
      // and this disk (a VM's) writes slower for a while after that than at the round's start.
      await add("copy down", () => measure(undefined, () => plainCopy(source, copy)));
      await rm(copy);
      const down = path.join(work, "download.bin");
      await add("openloop down", () => measure(server.pid, () => openloopDownload(client, version, down, digest), server.pid));
      await rm(down);
      await add("openloop js down", () => measure(server.pid, () => grpcJsDownload(jsClient, version, down, digest), server.pid));
      await rm(down);
      if (pythonGrpcInstalled()) {
        const got = await add("openloop py down", () => pythonTransfer(server.pid, server.port, "download", version, down));
        if (got.path !== digest) throw new Error("the Python client's download differs from the source");
        await rm(down);
      }
      if (CURL) {
        await add("openloop http down", () => curlDownload(server.pid, server.port, version, down, digest));
        await rm(down);
      }
      await add("openloop pyhttp down", () => pythonHttp(server.pid, server.port, "download", version, down, digest));
      await rm(down);
      if (peer && runId) {
        const dst = path.join(work, `mlflow-download-${round}`);
        await mkdir(dst);
        const got = await add("mlflow down", () => mlflowTransfer(peer, ["download", runId, path.basename(source), dst]));
        if ((await sha256File(got.path!)) !== digest) throw new Error("MLflow's download differs from the source");
        await rm(dst, { recursive: true });
      }
      // Free the disk and the page cache the round filled.
      await client.deleteModelVersion({ name: "bench", version });
      await client.deleteModelVersion({ name: "bench-js", version });
      if (pythonGrpcInstalled()) await client.deleteModelVersion({ name: "bench-py", version });
      if (CURL) await client.deleteModelVersion({ name: "bench-http", version });
      await client.deleteModelVersion({ name: "bench-pyhttp", version });
    }
    process.stdout.write(report(results, { rssIdle, loadStart, mlflow, mlflowSkipped }));
  } finally {
    sessions.abort();
    jsClient.close();
    await server.stop();
    await mlflow?.stop();
  }
}

async function warmUp(client: Client, work: string, mlflow: Mlflow | undefined): Promise<void> {
  const small = path.join(work, "warm.bin");
  const body = randomBytes(4 * MiB);
  await writeFile(small, body);
  const d = createHash("sha256").update(body).digest("hex");
  await client.registerModelVersion(
    (async function* () {
      yield create(RegisterModelVersionRequestSchema, { part: { case: "header", value: { name: "warm-up", version: "1", type: "gguf" } } });
      yield create(RegisterModelVersionRequestSchema, { part: { case: "chunk", value: { artifactName: "w.bin", data: body, sha256: d } } });
    })(),
  );
  for await (const _ of client.downloadArtifact({ name: "warm-up" })) {
    // drain
  }
  if (mlflow) await mlflowClient(["upload", mlflow.url, small]);
  await rm(small);
}

function report(results: Map<Path, Transfer[]>, ctx: { rssIdle: number; loadStart: number; mlflow: Mlflow | undefined; mlflowSkipped: string | undefined }): string {
  const get = (p: Path) => results.get(p) ?? [];
  const rates = (p: Path) => get(p).map((t) => SIZE / MiB / t.seconds);
  const rate = (p: Path) => median(rates(p));
  const range = (p: Path) => {
    const r = rates(p);
    return r.length > 1 ? `${Math.min(...r).toFixed(0)}–${Math.max(...r).toFixed(0)}` : `${r[0]?.toFixed(0) ?? "–"}`;
  };
  const cpu = (p: Path, side: "serverCpu" | "clientCpu") => median(get(p).map((t) => t[side]));
  const peak = Math.max(...(["openloop up", "openloop http up", "openloop http down", "openloop pyhttp up", "openloop pyhttp down", "openloop down", "openloop js up", "openloop js down", "openloop py up", "openloop py down"] as const).flatMap((p) => get(p).map((t) => t.peakRss ?? 0)));
  const py = get("openloop py up").length > 0;
  // The figure the targets judge: the fastest of the real clients, each direction on its own
  // (a client bound by its own CPU measures the client, not the server).
  const fastest = (paths: Path[]): Path => paths.filter((p) => get(p).length > 0).sort((a, b) => rate(b) - rate(a))[0]!;
  const up = fastest(["openloop up", "openloop js up", "openloop py up", "openloop http up", "openloop pyhttp up"]);
  const down = fastest(["openloop down", "openloop js down", "openloop py down", "openloop http down", "openloop pyhttp down"]);
  const clientOf = (p: Path) =>
    p === "openloop http up" ? "curl, HTTP PUT" : p === "openloop http down" ? "curl, HTTP GET" : p.includes(" pyhttp ") ? `Python's standard library, HTTP ${p.endsWith("up") ? "PUT" : "GET"}` : p.includes(" py ") ? "Python grpcio" : p.includes(" js ") ? "grpc-js" : "connect-node";
  const ok = (b: boolean) => (b ? "met" : "**not met**");
  // Uploads are compared with the copy at the start of the round, downloads with the one just before them.
  const baseline = (p: Path): Path => (p.endsWith(" down") ? "copy down" : "copy");
  const row = (label: string, p: Path, server: boolean) =>
    `| ${label} | ${range(p)} | ${rate(p).toFixed(0)} | ${((rate(p) / rate(baseline(p))) * 100).toFixed(0)}% | ${server ? cpu(p, "serverCpu").toFixed(2) : ""} | ${cpu(p, "clientCpu").toFixed(2)} | ${peakOf(p)} |`;
  const peakOf = (p: Path) => {
    const peaks = get(p).flatMap((t) => (t.peakRss ? [t.peakRss] : []));
    return peaks.length > 0 ? (Math.max(...peaks) / MB).toFixed(0) : "";
  };

  const upVsCopy = rate(up) / rate("copy");
  const downVsCopy = rate(down) / rate("copy down");
  const lines = [
    "## Registry: artifact transfer",
    "",
    "```",
    `node --import tsx bench/registry.ts --mb ${SIZE_MB} --rounds ${ROUNDS}${COMPILED ? " --compiled" : ""}`,
    "```",
    "",
    `${SIZE_MB} MiB of random bytes, ${ROUNDS} rounds; each round runs, one after the other: the baseline (the bench process copies the file on the same disk in 1 MiB blocks and fsyncs it; the uploads' ratios are to this copy), ` +
      `openloop uploads (RegisterModelVersion from connect-node's gRPC client and from @grpc/grpc-js's in the bench process, with an 8 MiB receive window, and from Python grpcio in a subprocess; chunks just under 1 MiB, HTTP/2 on 127.0.0.1, to the server in a child process, ${COMPILED ? "compiled: \`node dist/src/main.js\`" : "\`node --import tsx src/main.ts\`"}; then the same upload as an HTTP/1.1 PUT of the file by curl, \`PUT /registry/v1/models/{name}/versions/{version}/artifacts/{artifact}\` with its SHA-256 in Content-Digest, which the server serves as RegisterModelVersion, and the same PUT from Python's standard library: http.client sending the open file in 1 MiB blocks), ` +
      `${ctx.mlflow ? `an MLflow ${ctx.mlflow.version} upload (\`mlflow.log_artifact\` in a run, from MLflow's Python client in a subprocess, to \`mlflow server --serve-artifacts --workers 1\` with a SQLite backend, which streams it over HTTP PUT into its artifacts directory), ` : ""}` +
      `the baseline again (the downloads' ratios are to this second copy, taken after the round's 2-3 GB of uploads, as the downloads are), openloop downloads from the same three clients (DownloadArtifact into a file: the client hashes and writes each chunk, then fsyncs and compares the digest, as src/llm/registry-models.ts does) and by curl (\`GET\` of the same path into a file, then \`sync FILE\`; its digest checked after the timing) and by Python's standard library (urllib, \`shutil.copyfileobj\` in 1 MiB reads into the file, then fsync; checked likewise)${ctx.mlflow ? " and an MLflow download (`mlflow.artifacts.download_artifacts` by run id; no hash, no fsync; its file is checked after the timing)" : ""}.`,
    "openloop hashes every byte both ways on the server and fsyncs each artifact before answering; MLflow does neither. Page cache warm throughout; every transfer (and the copy) starts after a `sync`, outside its timing, so none pays for earlier writes still pending (MLflow's are not fsynced); each round's version is deleted after it." + (DIRECT_IO === undefined ? "" : ` The server runs with registry.directIo: ${DIRECT_IO}.`),
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; shared with other work (1-minute load average ${ctx.loadStart.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end), so rates vary between runs: CPU seconds vary much less.`,
    "",
    "| path | MiB/s (rounds) | MiB/s median | vs copy | server CPU s (median) | client CPU s (median) | openloop server peak MB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    row("file copy with fsync (baseline), at the start of the round", "copy", false),
    row("openloop upload (connect-node client)", "openloop up", true),
    row("openloop upload (grpc-js client)", "openloop js up", true),
    ...(py ? [row("openloop upload (Python grpcio client)", "openloop py up", true)] : []),
    ...(get("openloop http up").length > 0 ? [row("openloop upload (HTTP PUT of the file by curl, digest in Content-Digest)", "openloop http up", true)] : []),
    row("openloop upload (HTTP PUT by Python's http.client, 1 MiB blocks, digest in Content-Digest)", "openloop pyhttp up", true),
    ...(ctx.mlflow ? [row(`MLflow ${ctx.mlflow.version} upload`, "mlflow up", true)] : []),
    row("file copy with fsync (baseline), after the uploads", "copy down", false),
    row("openloop download (connect-node client)", "openloop down", true),
    row("openloop download (grpc-js client)", "openloop js down", true),
    ...(py ? [row("openloop download (Python grpcio client)", "openloop py down", true)] : []),
    ...(get("openloop http down").length > 0 ? [row("openloop download (HTTP GET by curl into the file, then fsync)", "openloop http down", true)] : []),
    row("openloop download (HTTP GET by Python's urllib, shutil.copyfileobj in 1 MiB reads into the file, then fsync)", "openloop pyhttp down", true),
    ...(ctx.mlflow ? [row(`MLflow ${ctx.mlflow.version} download`, "mlflow down", true)] : []),
    "",
    `Server CPU per MiB: openloop ${((cpu("openloop up", "serverCpu") * 1000) / SIZE_MB).toFixed(2)} ms up, ${((cpu("openloop down", "serverCpu") * 1000) / SIZE_MB).toFixed(2)} ms down` +
      (ctx.mlflow ? `; MLflow ${((cpu("mlflow up", "serverCpu") * 1000) / SIZE_MB).toFixed(2)} ms up, ${((cpu("mlflow down", "serverCpu") * 1000) / SIZE_MB).toFixed(2)} ms down (all its processes).` : "."),
    `openloop server memory: ${(ctx.rssIdle / MiB).toFixed(0)} MiB resident before the transfers, peak ${(peak / MiB).toFixed(0)} MiB (${(peak / MB).toFixed(0)} MB) during them (VmHWM, reset before each transfer so start-up does not count).`,
    "",
    `Targets (openloop measured with the fastest client: ${clientOf(up)} up, ${clientOf(down)} down):`,
    `- upload at least ${TARGETS.vsCopy * 100}% of the copy: ${ok(upVsCopy >= TARGETS.vsCopy)} (${(upVsCopy * 100).toFixed(0)}%)`,
    `- download at least ${TARGETS.vsCopy * 100}% of the copy: ${ok(downVsCopy >= TARGETS.vsCopy)} (${(downVsCopy * 100).toFixed(0)}%; ${((rate(down) / rate("copy")) * 100).toFixed(0)}% of the copy at the start of the round)`,
    ...(ctx.mlflow
      ? [
          `- upload at least ${TARGETS.vsMlflow}× MLflow: ${ok(rate(up) / rate("mlflow up") >= TARGETS.vsMlflow)} (${(rate(up) / rate("mlflow up")).toFixed(2)}×)`,
          `- download at least ${TARGETS.vsMlflow}× MLflow: ${ok(rate(down) / rate("mlflow down") >= TARGETS.vsMlflow)} (${(rate(down) / rate("mlflow down")).toFixed(2)}×)`,
        ]
      : [`- against MLflow: ${ctx.mlflowSkipped}`]),
    `- server peak memory during a transfer under ${TARGETS.peakRssBytes / MB} MB: ${ok(peak < TARGETS.peakRssBytes)} (${(peak / MB).toFixed(1)} MB)`,
  ];
  return `${lines.join("\n")}\n`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
