// Graceful shutdown: stop accepting, let in-flight calls finish, then exit cleanly.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { RegistryService } from "../../gen/openloop/registry/v1/registry_service_pb.js";
import { startTestServer } from "../support/server.js";
import { spawnServer } from "../support/spawn.js";

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

describe("graceful shutdown", () => {
  it("lets an in-flight server-streaming download finish after SIGTERM, refuses new connections, and exits 0", async () => {
    const server = await spawnServer({ config: { registry: { downloadChunkBytes: 64 * 1024 } } });
    try {
      const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: server.baseUrl }));
      const artifact = randomBytes(8 * 1024 * 1024);
      await registry.registerModelVersionUnary({
        header: { name: "shutdown-test", type: "onnx" },
        artifacts: [{ name: "model.onnx", data: artifact }],
      });

      const stream = registry.downloadArtifact({ name: "shutdown-test" })[Symbol.asyncIterator]();
      const first = await stream.next();
      expect(first.value?.part.case).toBe("header");

      server.kill("SIGTERM");
      await server.waitForLog((l) => l.msg === "shutting down");
      expect(await connectError(server.port)).toBe("ECONNREFUSED");

      const hash = createHash("sha256");
      let received = 0;
      for (let r = await stream.next(); !r.done; r = await stream.next()) {
        if (r.value.part.case === "data") {
          hash.update(r.value.part.value);
          received += r.value.part.value.length;
        }
        await new Promise((resolve) => setTimeout(resolve, 2)); // a slow reader keeps the call in flight
      }
      expect(received).toBe(artifact.length);
      expect(hash.digest("hex")).toBe(createHash("sha256").update(artifact).digest("hex"));
      expect(await server.exited).toBe(0);
      expect(server.logs.some((l) => l.msg === "stopped")).toBe(true);
    } finally {
      server.kill("SIGKILL");
    }
  });

  it("aborts a call still running when server.shutdownGraceMs is over, with UNAVAILABLE", async () => {
    const s = await startTestServer({ registry: { downloadChunkBytes: 64 * 1024 } });
    try {
      const registry = createClient(RegistryService, s.grpc);
      await registry.registerModelVersionUnary({
        header: { name: "grace-test", type: "onnx" },
        artifacts: [{ name: "model.onnx", data: randomBytes(4 * 1024 * 1024) }],
      });
      const stream = registry.downloadArtifact({ name: "grace-test" })[Symbol.asyncIterator]();
      await stream.next();
      const closing = s.server.close(200);
      let err: unknown;
      try {
        // Reads too slowly to finish 64 chunks within the 200 ms grace period.
        for (let r = await stream.next(); !r.done; r = await stream.next()) await new Promise((resolve) => setTimeout(resolve, 50));
      } catch (e) {
        err = e;
      }
      await closing;
      expect(ConnectError.from(err).code).toBe(Code.Unavailable);
    } finally {
      await s.close();
    }
  });

  it("turns health NOT_SERVING for watchers and ends their streams", async () => {
    const s = await startTestServer();
    const seen: Status[] = [];
    const watching = (async () => {
      for await (const res of createClient(Health, s.grpc).watch({ service: "" })) {
        seen.push(res.status);
        if (seen.length === 1) void s.server.close();
      }
    })();
    await watching; // resolves only if the stream ended without an error
    await s.close();
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });

  it("exits with 0 on SIGINT when idle", async () => {
    const server = await spawnServer();
    server.kill("SIGINT");
    expect(await server.exited).toBe(0);
  });
});
