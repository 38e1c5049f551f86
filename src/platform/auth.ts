// API-key auth: `authorization: Bearer <key>` on every RPC except health and reflection.
// Both transports run it before any request message is read or parsed.
import { createHash, timingSafeEqual } from "node:crypto";
import { ConnectError, Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ConfigError, type Config } from "../config.js";

/** Services every caller may reach without a key (probes and tooling). */
export const OPEN_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** Admits or refuses a call to `service` given its authorization header. */
export type AuthGate = (service: string, authorization: string | null | undefined) => void;

/** Returns a gate that throws UNAUTHENTICATED for a missing or wrong key; undefined when no keys are configured. */
export function createAuthGate(apiKeys: readonly string[]): AuthGate | undefined {
  if (apiKeys.length === 0) return undefined;
  // Comparing fixed-size digests keeps the comparison constant-time regardless of key length.
  const digests = apiKeys.map(digest);
  return (service, header) => {
    if (OPEN_SERVICES.has(service)) return;
    if (!header) throw new ConnectError("missing API key: send the header 'authorization: Bearer <key>'", Code.Unauthenticated);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ConnectError("malformed authorization header: expected 'Bearer <key>'", Code.Unauthenticated);
    const given = digest(match[1]);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, given) || ok; // no early exit
    if (!ok) throw new ConnectError("invalid API key", Code.Unauthenticated);
  };
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

/** Throws a ConfigError when there are no API keys on an address other machines can reach, unless allowed. */
export function assertNotExposed(config: Config): void {
  const { host, apiKeys, allowOpen } = config.server;
  if (apiKeys.length === 0 && !isLoopback(host) && !allowOpen) {
    throw new ConfigError(
      `server.apiKeys is empty and server.host '${host}' is reachable from other machines: ` +
        `set server.apiKeys (or OPENLOOP_API_KEYS), bind to 127.0.0.1, or set server.allowOpen: true (OPENLOOP_ALLOW_OPEN=true) to run open on purpose`,
    );
  }
}

/** assertNotExposed, plus a warning in the log whenever the server runs open. */
export function checkExposure(config: Config, log: Logger): void {
  assertNotExposed(config);
  const { host, apiKeys } = config.server;
  if (apiKeys.length > 0) return;
  log.warn(
    { host },
    isLoopback(host)
      ? "no API keys configured: the server is open to every local process"
      : "no API keys configured and server.allowOpen is set: the server is open to the network",
  );
}
