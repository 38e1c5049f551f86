// The baseline server of the benches: a plain @grpc/grpc-js Server as its users write one
// (proto-loader), serving only grpc.health.v1.Health/Check, in a child process.
//
//   node --import tsx bench/support/bare-grpc-js.ts   (prints its port)
import { spawn } from "node:child_process";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ROOT } from "../../test/support/tools.js";

export const HEALTH_PROTO = { file: path.join(ROOT, "proto/grpc/health/v1/health.proto"), importPath: path.join(ROOT, "proto") };

export interface BareServer {
  readonly port: number;
  readonly pid: number;
  stop(): void;
}

export async function startBareGrpcJs(): Promise<BareServer> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bare grpc-js server exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

if (process.argv[1] === import.meta.filename) {
  const definition = protoLoader.loadSync(HEALTH_PROTO.file, { includeDirs: [HEALTH_PROTO.importPath] });
  const health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const server = new grpc.Server();
  server.addService(health.service, { check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: "SERVING" }) });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`${port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
