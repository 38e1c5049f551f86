// RegistryService transfers from a Python gRPC client (grpcio, stubs generated from proto/ by
// clients/python/generate.py into a temporary directory), as an ML user would run them, for the
// transfer benches. The client times itself, so interpreter start and imports are not counted,
// and prints "start" just before it transfers, so a bench can read a server's CPU from there.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../test/support/tools.js";

export const PYTHON = path.join(ROOT, ".venv", "bin", "python");

export const pythonGrpcInstalled = (): boolean => existsSync(PYTHON);

export interface PythonResult {
  readonly seconds: number;
  /** CPU seconds of the client over the transfer. */
  readonly cpu: number;
  readonly run_id?: string;
  /** A path, or for the gRPC client the SHA-256 of what it sent or received. */
  readonly path?: string;
}

// Arguments: upload|download, host:port, model name, version, file. An upload reads the file in
// chunks of `uploadChunk`; a download hashes what it receives and, unless the file is "-", writes
// it to the file and fsyncs it.
const grpcClient = (uploadChunk: number) => `
import hashlib, json, os, resource, sys, time
import atexit, pathlib, shutil, tempfile
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "clients/python"))})
import generate
stubs = pathlib.Path(tempfile.gettempdir()) / f"openloop-bench-stubs-{os.getpid()}"
atexit.register(shutil.rmtree, stubs, True)
generate.generate(stubs)
sys.path.insert(0, str(stubs))
import grpc
from openloop.registry.v1 import registry_service_pb2 as pb, registry_service_pb2_grpc as rpc
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
mode, target, name, version, file = sys.argv[1:6]
opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
stub = rpc.RegistryServiceStub(grpc.insecure_channel(target, options=opts))
stub.ListModels(pb.ListModelsRequest())
print("start", flush=True)
time.sleep(0.05)
c0, t0 = cpu(), time.perf_counter()
if mode == "upload":
    def requests():
        yield pb.RegisterModelVersionRequest(header=pb.ModelVersionHeader(name=name, version=version, type="gguf"))
        with open(file, "rb", buffering=0) as f:
            while True:
                data = f.read(${uploadChunk})
                if not data:
                    return
                yield pb.RegisterModelVersionRequest(chunk=pb.ArtifactChunk(artifact_name="model.gguf", data=data))
    digest = stub.RegisterModelVersion(requests()).model_version.artifacts[0].sha256
else:
    h = hashlib.sha256()
    f = None if file == "-" else open(file, "wb", buffering=0)
    for m in stub.DownloadArtifact(pb.DownloadArtifactRequest(name=name, version=version)):
        if m.WhichOneof("part") == "data":
            h.update(m.data)
            if f:
                f.write(m.data)
    if f:
        os.fsync(f.fileno())
        f.close()
    digest = h.hexdigest()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0, "path": digest}), flush=True)
`;

/** One transfer from the Python gRPC client; `path` in the result is the digest it saw. */
export function pythonGrpcTransfer(
  args: { mode: "upload" | "download"; port: number; name: string; version: string; file: string; uploadChunk: number },
  onStart: () => void,
): Promise<PythonResult> {
  return runPythonClient(PYTHON, grpcClient(args.uploadChunk), [args.mode, `127.0.0.1:${args.port}`, args.name, args.version, args.file], onStart);
}

// The artifact routes (src/registry/http-artifacts.ts) from Python's standard library, as a user
// without the gRPC stubs would script them. Arguments: upload|download, port, model name,
// version, file, the file's SHA-256 in base64. An upload is an http.client PUT of the open file,
// sent in 1 MiB blocks, with the digest in Content-Digest; a download is a urllib GET copied into
// the file by shutil.copyfileobj in 1 MiB reads, then fsync.
const httpClient = `
import json, os, resource, shutil, sys, time, http.client, urllib.request
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
mode, port, name, version, file, digest = sys.argv[1:7]
path = f"/registry/v1/models/{name}/versions/{version}/artifacts/model.gguf"
print("start", flush=True)
time.sleep(0.05)
c0, t0 = cpu(), time.perf_counter()
if mode == "upload":
    conn = http.client.HTTPConnection("127.0.0.1", int(port), blocksize=1 << 20)
    with open(file, "rb") as f:
        headers = {"openloop-model-version": '{"type": "gguf"}', "content-digest": f"sha-256=:{digest}:", "content-length": str(os.fstat(f.fileno()).st_size)}
        conn.request("PUT", path, body=f, headers=headers)
        r = conn.getresponse()
        body = r.read()
    if r.status != 201:
        sys.exit(f"the PUT was answered {r.status}: {body[:300]!r}")
    out = json.loads(body)["modelVersion"]["artifacts"][0]["sha256"]
else:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r, open(file, "wb") as f:
        shutil.copyfileobj(r, f, 1 << 20)
        f.flush()
        os.fsync(f.fileno())
    out = file
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - c0, "path": out}), flush=True)
`;

/** One transfer by Python's standard library through the HTTP routes; `path` is the upload's digest (hex) or the downloaded file. */
export function pythonHttpTransfer(
  args: { mode: "upload" | "download"; port: number; name: string; version: string; file: string; sha256Base64: string },
  onStart: () => void,
): Promise<PythonResult> {
  return runPythonClient(existsSync(PYTHON) ? PYTHON : "python3", httpClient, [args.mode, String(args.port), args.name, args.version, args.file, args.sha256Base64], onStart);
}

/** Runs a Python client script that prints "start" before it transfers and a JSON result last. */
export function runPythonClient(python: string, script: string, args: string[], onStart: () => void): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(python, ["-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let started = false;
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!started && /^start$/m.test(out)) {
        started = true;
        onStart();
      }
    });
    p.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    p.on("close", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code !== 0) return reject(new Error(`python client ${args[0]} exited with ${code}:\n${err}`));
      try {
        resolve(JSON.parse(last) as PythonResult);
      } catch {
        reject(new Error(`python client printed no result:\n${out}\n${err}`));
      }
    });
  });
}
