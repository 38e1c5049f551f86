// A private SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process) on free
// loopback ports, for tests of the S3 artifact store. The binary is built once per machine by
// scripts/lib.sh ensure_seaweedfs into ~/.cache/openloop; OPENLOOP_WEED names another one.
//
// Every port weed mini opens is pinned to a free one and bound to 127.0.0.1 (-ip.bind), and the
// extras (admin UI, WebDAV, Iceberg and Lance catalogs, telemetry) are off. Requests are signed
// (SigV4) with an identity from an -s3.config file, so a wrong key fails as it does on AWS.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CreateBucketCommand, ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "./redis.js";

export const SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6";

export interface SeaweedFs {
  /** http://127.0.0.1:<s3 port> */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A signed client for the test's own checks (listing, corrupting objects). */
  readonly client: S3Client;
  /** The running server's process id (for benches reading its CPU time). */
  readonly pid: number | undefined;
  /** Creates a bucket and returns its name. */
  createBucket(name: string): Promise<string>;
  /** Stops the server (SIGKILL, like a crash) and waits for the exit; the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  teardown(): Promise<void>;
}

export function weedBinary(): string {
  const bin = process.env.OPENLOOP_WEED ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "openloop", `seaweedfs-${SEAWEEDFS_VERSION}`, "weed");
  if (!existsSync(bin)) {
    throw new Error(`SeaweedFS is not built (${bin} is missing): run \`npm test\`, whose scripts/lib.sh ensure_seaweedfs builds it once per machine, or set OPENLOOP_WEED`);
  }
  return bin;
}

export async function startSeaweedFs(): Promise<SeaweedFs> {
  const bin = weedBinary();
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-weed-"));
  const credentials = { accessKeyId: "openloop-test", secretAccessKey: "openloop-test-secret" };
  const identities = {
    identities: [
      {
        name: "openloop",
        credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }],
        actions: ["Admin", "Read", "Write", "List", "Tagging"],
      },
    ],
  };
  await writeFile(path.join(dir, "s3.json"), JSON.stringify(identities));
  const ports: Record<string, number> = {};
  for (const flag of [
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
  ]) {
    ports[flag] = await freePort();
  }
  const args = [
    "mini",
    `-dir=${path.join(dir, "data")}`,
    "-ip=127.0.0.1",
    "-ip.bind=127.0.0.1",
    `-s3.config=${path.join(dir, "s3.json")}`,
    ...Object.entries(ports).map(([flag, port]) => `-${flag}=${port}`),
    "-admin.port.legacy=0",
    "-admin.ui=false",
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    "-webdav=false",
    "-master.telemetry=false",
    `-filer.localSocket=${path.join(dir, "filer.sock")}`,
    `-s3.localSocket=${path.join(dir, "s3.sock")}`,
  ];
  const endpoint = `http://127.0.0.1:${ports["s3.port"]}`;
  const region = "us-east-1";
  // A copy: the SDK marks the credentials object it is given.
  const client = new S3Client({ endpoint, region, credentials: { ...credentials }, forcePathStyle: true, maxAttempts: 1 });

  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    const c = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    c.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    c.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    const deadline = Date.now() + 60_000;
    // Ready when the S3 gateway answers a signed request (ListBuckets), not merely accepts connections.
    for (;;) {
      if (c.exitCode !== null) throw new Error(`weed mini exited with ${c.exitCode}:\n${output}`);
      try {
        await client.send(new ListBucketsCommand({}));
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`weed mini did not answer S3 on ${endpoint} within 60 s (${(err as Error).message}):\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    c.kill("SIGKILL");
    await exited;
  };
  try {
    await start();
  } catch (err) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint,
    region,
    credentials,
    client,
    get pid() {
      return child?.pid;
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    stop,
    start,
    async teardown() {
      client.destroy();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
