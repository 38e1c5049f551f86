// HTTP/2 conformance of the gRPC server's own transport, checked by h2spec (a conformance
// checker written in Go) against the transport alone on a bare port: every section, in strict
// mode. h2spec's requests are not gRPC; the server refuses them with 405 or 415 once the client
// has sent all of the request, so the errors h2spec sends in them are what it answers first.
import net from "node:net";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNativeGrpcServer } from "../../../src/platform/grpc/native-server.js";
import type { GrpcServer } from "../../../src/platform/grpc/server.js";
import { HealthState, healthService } from "../../../src/platform/health.js";
import { createRpcObserver } from "../../../src/platform/observe.js";
import { findTool, run } from "../../support/tools.js";


describe("the gRPC server's HTTP/2 transport under h2spec --strict", () => {
  let grpc: GrpcServer;
  let server: net.Server;
  let port: number;

  beforeAll(async () => {
    const log = pino({ level: "silent" });
    grpc = createNativeGrpcServer({
      bindings: [healthService(new HealthState([]))],
      observer: createRpcObserver(new Registry(), log),
      auth: undefined,
      maxMessageBytes: 4 << 20,
      defaultDeadlineMs: 0,
      keepalive: { timeMs: 0, timeoutMs: 20_000, minClientPingIntervalMs: 0 },
      shutdown: new AbortController().signal,
      log,
    });
    server = net.createServer({ noDelay: true }, (socket) => grpc.inject(socket));
    port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  });
  afterAll(() => {
    grpc?.destroy();
    server?.close();
  });

  it("passes every test", async () => {
    const h2spec = findTool("h2spec", "go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible");
    const res = await run(h2spec, ["-h", "127.0.0.1", "-p", String(port), "--strict", "-o", "2"], { timeoutMs: 120_000 });
    const summary = /(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed/.exec(res.stdout);
    expect(summary, res.stdout.slice(-2000)).not.toBeNull();
    expect(Number(summary![4]), res.stdout.slice(-4000)).toBe(0);
    expect(Number(summary![1])).toBeGreaterThanOrEqual(146);
    expect(Number(summary![2])).toBe(Number(summary![1]));
  }, 150_000);
});
