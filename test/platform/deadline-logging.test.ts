import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { parseConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { startTestServer, type TestServer } from "../support/server.js";

async function endOfWatch(transport: Parameters<typeof createClient>[1], timeoutMs?: number): Promise<Code | "OK"> {
  try {
    for await (const _ of createClient(Health, transport).watch({ service: "" }, { timeoutMs })) {
      // a watch only ends by its deadline here
    }
    return "OK";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("server.defaultDeadlineMs", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ server: { defaultDeadlineMs: 200 } });
  });
  afterAll(() => s?.close());

  it("ends a call that came without a deadline with DEADLINE_EXCEEDED, over gRPC and Connect", async () => {
    expect(await endOfWatch(s.grpc)).toBe(Code.DeadlineExceeded);
    expect(await endOfWatch(s.connect)).toBe(Code.DeadlineExceeded);
  });
});

describe("RPC logs", () => {
  let server: RunningServer;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const log = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "openloop-log-"));
    server = await startServer(parseConfig({ server: { port: 0 }, dataDir }), { log });
  });
  afterAll(() => server?.close());

  it("writes one debug line per finished RPC with its status and duration", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    await health.check({});
    await health.check({ service: "no.such.Service" }).catch(() => {});
    const rpcLines = lines.filter((l) => l.msg === "rpc" && l.rpc === "grpc.health.v1.Health/Check");
    expect(rpcLines.map((l) => l.code)).toEqual(["OK", "NOT_FOUND"]);
    expect(rpcLines.every((l) => l.level === 20 && typeof l.ms === "number")).toBe(true);
  });

  it("logs the listening address once at start", () => {
    const listening = lines.filter((l) => l.msg === "openloop listening");
    expect(listening).toHaveLength(1);
    expect(listening[0].url).toBe(server.url);
  });
});
