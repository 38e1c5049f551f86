// Starts the real server in-process on a free loopback port, with real client transports.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { pino } from "pino";
import { parseConfig, type Config, type ConfigInput } from "../../src/config.js";
import type { RateLimiter } from "../../src/platform/rate-limit.js";
import { startServer, type OpenloopServer } from "../../src/server.js";

export interface TestServerOptions {
  /** Sent as `authorization: Bearer <key>` by the returned transports. */
  apiKey?: string;
  /** Working directory for relative paths such as server.consoleDir. */
  cwd?: string;
  /** Where API keys' limits are kept (a MemoryRateLimiter on a test clock, say). */
  limiter?: RateLimiter;
}

export interface TestServer {
  readonly port: number;
  /** e.g. http://127.0.0.1:41234 */
  readonly baseUrl: string;
  /** gRPC over HTTP/2 (h2c). */
  readonly grpc: Transport;
  /** Connect protocol over HTTP/1.1, as a browser or a simple client would call. */
  readonly connect: Transport;
  /** gRPC-Web over HTTP/1.1. */
  readonly grpcWeb: Transport;
  readonly config: Config;
  readonly server: OpenloopServer;
  /** Closes the clients' connections, shuts the server down, and removes a temp dataDir it created. */
  close(): Promise<void>;
}

export async function startTestServer(config: ConfigInput | Record<string, unknown> = {}, opts: TestServerOptions = {}): Promise<TestServer> {
  const input = config as ConfigInput;
  const tempDir = input.dataDir === undefined ? await mkdtemp(path.join(os.tmpdir(), "openloop-test-")) : undefined;
  const level = process.env.OPENLOOP_TEST_LOG ? (process.env.OPENLOOP_TEST_LOG === "1" ? "debug" : process.env.OPENLOOP_TEST_LOG) : "silent";
  const parsed = parseConfig({
    ...input,
    dataDir: input.dataDir ?? tempDir,
    log: { level, ...input.log },
    server: { host: "127.0.0.1", port: 0, shutdownGraceMs: 2_000, ...input.server },
  });
  let server: OpenloopServer;
  try {
    server = await startServer(parsed, { log: pino({ level: parsed.log.level }), cwd: opts.cwd, limiter: opts.limiter });
  } catch (err) {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
    throw err;
  }
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const interceptors: Interceptor[] = opts.apiKey
    ? [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${opts.apiKey}`);
          return next(req);
        },
      ]
    : [];
  const sessionManager = new Http2SessionManager(baseUrl);
  const agent = new http.Agent({ keepAlive: true });
  const grpc = createGrpcTransport({ baseUrl, sessionManager, interceptors });
  const connect = createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent }, interceptors });
  const grpcWeb = createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { agent }, interceptors });

  let closed: Promise<void> | undefined;
  return {
    port: server.port,
    baseUrl,
    grpc,
    connect,
    grpcWeb,
    config: parsed,
    server,
    close: () =>
      (closed ??= (async () => {
        sessionManager.abort();
        agent.destroy();
        await server.close();
        if (tempDir) await rm(tempDir, { recursive: true, force: true });
      })()),
  };
}
