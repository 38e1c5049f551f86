// API-key auth: `authorization: Bearer <key>` on every RPC except health and reflection.
// Runs as the router's request gate, before any request message is read or parsed.
import { createHash, timingSafeEqual } from "node:crypto";
import { ConnectError, Code, type HandlerContext } from "@connectrpc/connect";

/** Services every caller may reach without a key (probes and tooling). */
export const OPEN_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** Returns a gate that throws UNAUTHENTICATED for a missing or wrong key; undefined when no keys are configured. */
export function createAuthGate(apiKeys: readonly string[]): ((ctx: HandlerContext) => void) | undefined {
  if (apiKeys.length === 0) return undefined;
  // Comparing fixed-size digests keeps the comparison constant-time regardless of key length.
  const digests = apiKeys.map(digest);
  return (ctx) => {
    if (OPEN_SERVICES.has(ctx.service.typeName)) return;
    const header = ctx.requestHeader.get("authorization");
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
