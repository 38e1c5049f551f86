// A measuring device, not a server: grpc.health.v1.Health/Check's SERVING answered through
// node:http2's stream API with no gRPC library (respond, one DATA write, trailers on
// wantTrailers), to tell node:http2's share of the gRPC floor from grpc-js's (floor-probe.ts).
//
//   node --import tsx bench/support/bare-node-h2.ts   (prints its port)
import { spawn } from "node:child_process";
import http2 from "node:http2";
import { ROOT } from "../../test/support/tools.js";
import type { RawH2Server } from "./one-write-h2.js";

export async function startBareNodeH2(): Promise<RawH2Server> {
  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`bare-node-h2 exited with ${code}`)));
  });
  return { port, pid: child.pid!, stop: () => void child.kill("SIGTERM") };
}

// HealthCheckResponse{status: SERVING}, length-prefixed.
const SERVING = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const HEADERS = { ":status": 200, "content-type": "application/grpc" };
const TRAILERS = { "grpc-status": "0" };

if (process.argv[1] === import.meta.filename) {
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("data", () => {});
    stream.once("end", () => {
      stream.respond(HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(TRAILERS));
      stream.end(SERVING);
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
  process.on("SIGTERM", () => process.exit(0));
}
