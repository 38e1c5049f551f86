// A server whose log lines and RPC metrics a test can read: the log at debug level into an
// array, /metrics parsed into counts by service, method and code.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { parseConfig, type ConfigInput } from "../../src/config.js";
import { startServer, type OpenloopServer } from "../../src/server.js";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly rpc?: string;
  readonly code?: string;
  readonly err?: unknown;
  readonly [key: string]: unknown;
}

export interface ObservedServer {
  readonly server: OpenloopServer;
  readonly url: string;
  readonly port: number;
  readonly lines: LogLine[];
  /** openloop_rpc_requests_total as `Service/Method code` -> count. */
  rpcCounts(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** pino's level numbers. */
export const ERROR = 50;

export async function startObservedServer(config: ConfigInput | Record<string, unknown> = {}): Promise<ObservedServer> {
  const input = config as ConfigInput;
  const dataDir = input.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "openloop-observed-")));
  const lines: LogLine[] = [];
  const log = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as LogLine) });
  const server = await startServer(parseConfig({ ...input, dataDir, log: { level: "debug" }, server: { host: "127.0.0.1", port: 0, shutdownGraceMs: 2_000, ...input.server } }), { log });
  return {
    server,
    url: server.url,
    port: server.port,
    lines,
    rpcCounts: () => rpcCounts(server.url),
    async close() {
      await server.close();
      if (input.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** openloop_rpc_requests_total of the server at `baseUrl`, as `Service/Method code` -> count. */
export async function rpcCounts(baseUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^openloop_rpc_requests_total\{service="([^"]+)",method="([^"]+)",code="([^"]+)"\} (\d+)$/gm)) {
    counts.set(`${m[1]}/${m[2]} ${m[3]}`, Number(m[4]));
  }
  return counts;
}
