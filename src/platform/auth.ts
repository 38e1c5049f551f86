// API-key auth: `authorization: Bearer <key>` on every RPC except health and reflection.
// Both transports call the one gate here before any request message is read or parsed:
// it identifies the key, checks the method's scope (scopes.ts), and applies the key's
// limits (rate-limit.ts). Metrics and logs name keys by their configured name only.
import { createHash, timingSafeEqual } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import { ConnectError, Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { ConfigError, type Config } from "../config.js";
import { HASHED_KEY, plainKeyName, type ApiKeyConfig } from "./auth-config.js";
import { resourceExhausted, type RateLimiter, type RequestRate, type StreamRelease } from "./rate-limit.js";
import { grants, scopeFor, type Scope } from "./scopes.js";
import { isPromise } from "./is-promise.js";

/**
 * Admits or refuses a call to `method` given its authorization header: throws a ConnectError
 * (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED), else returns the function to call
 * when the call ends if it holds one of the key's stream slots. It answers with a promise only
 * when the key has limits kept in a Redis shared by replicas (its rejection is the refusal).
 */
export type AuthGate = (method: DescMethod, authorization: string | null | undefined) => Admission;

export type Admission = StreamRelease | undefined | Promise<StreamRelease | undefined>;

/** A configured key, as the server knows it: never the key itself. */
export interface ApiKey {
  readonly name: string;
  /** Calls admitted with it (counted here, turned into a series at scrape time). */
  admitted: number;
  readonly scopes: ReadonlySet<Scope>;
  readonly rate: RequestRate | undefined;
  readonly maxStreams: number | undefined;
}

/** What GET /auth/whoami answers: the caller's key and what it may do. */
export interface KeyDescription {
  /** False when the server runs without keys: every caller may do everything. */
  readonly authRequired: boolean;
  readonly key: string | null;
  readonly scopes: readonly Scope[];
  readonly limits: { requestsPerSecond?: number; burst?: number; concurrentStreams?: number };
}

/** The label of calls that came without a valid key, in the key-labelled metrics. */
export const NO_KEY = "(none)";

/** Why a call was refused, as the `reason` label of openloop_auth_denied_total. */
type DenialReason = "missing" | "malformed" | "invalid" | "scope";

export interface AuthOptions {
  readonly keys: readonly ApiKeyConfig[];
  readonly limiter: RateLimiter;
  readonly metrics: Registry;
  readonly log: Logger;
}

export class Auth {
  /** False when no keys are configured: the server is open. */
  readonly required: boolean;
  private readonly keys: ApiKey[];
  private readonly digests: Buffer[];
  private readonly denied: Counter<"key" | "reason">;
  private readonly limited: Counter<"key" | "limit">;
  private readonly limiter: RateLimiter;
  private readonly log: Logger;

  constructor(opts: AuthOptions) {
    this.required = opts.keys.length > 0;
    this.keys = opts.keys.map(keyOf);
    this.digests = opts.keys.map((k) => storedDigest(typeof k === "string" ? k : k.key));
    this.limiter = opts.limiter;
    this.log = opts.log;
    this.denied = new Counter({
      name: "openloop_auth_denied_total",
      help: "Calls refused by auth, by key name ((none) without a valid key) and reason (missing, malformed, invalid, scope).",
      labelNames: ["key", "reason"],
      registers: [opts.metrics],
    });
    const keys = this.keys;
    new Counter({
      name: "openloop_auth_admitted_total",
      help: "Calls admitted by auth, by key name (one series per configured key).",
      labelNames: ["key"],
      registers: [opts.metrics],
      collect() {
        this.reset();
        for (const k of keys) this.inc({ key: k.name }, k.admitted);
      },
    });
    this.limited = new Counter({
      name: "openloop_rate_limited_total",
      help: "Calls refused with RESOURCE_EXHAUSTED by a key's limits, by key name and limit (requests, streams).",
      labelNames: ["key", "limit"],
      registers: [opts.metrics],
    });
  }

  /** The RPC gate both transports call; undefined when no keys are configured. */
  gate(): AuthGate | undefined {
    if (!this.required) return undefined;
    return (method, header) => {
      const service = method.parent.typeName;
      const needed = scopeFor(service, method.name);
      if (needed === undefined) return undefined;
      const key = this.identify(header);
      if (!grants(key.scopes, needed)) {
        this.denied.inc({ key: key.name, reason: "scope" });
        this.log.info({ key: key.name, rpc: `${service}/${method.name}`, scope: needed }, "call outside the key's scopes");
        throw new ConnectError(`API key '${key.name}' lacks scope '${needed}'`, Code.PermissionDenied);
      }
      const release = this.applyLimits(key, method);
      if (!isPromise(release)) {
        key.admitted++;
        return release;
      }
      return release.then((r) => {
        key.admitted++;
        return r;
      });
    };
  }

  /**
   * The key an authorization header carries; throws UNAUTHENTICATED (and counts it) for a
   * missing, malformed or unknown one. Every configured key is compared, in constant time.
   */
  identify(header: string | null | undefined): ApiKey {
    if (!header) this.refuse("missing", "missing API key: send the header 'authorization: Bearer <key>'");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) this.refuse("malformed", "malformed authorization header: expected 'Bearer <key>'");
    const given = sha256(match[1]);
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(this.digests[i], given) && found < 0) found = i; // no early exit
    }
    if (found < 0) this.refuse("invalid", "invalid API key");
    return this.keys[found];
  }

  /** What a caller's key may do (GET /auth/whoami); throws UNAUTHENTICATED like an RPC would. */
  describe(header: string | null | undefined): KeyDescription {
    if (!this.required) return { authRequired: false, key: null, scopes: ["admin"], limits: {} };
    const key = this.identify(header);
    return {
      authRequired: true,
      key: key.name,
      scopes: [...key.scopes],
      limits: {
        ...(key.rate ? { requestsPerSecond: key.rate.perSecond, burst: key.rate.burst } : {}),
        ...(key.maxStreams !== undefined ? { concurrentStreams: key.maxStreams } : {}),
      },
    };
  }

  /** Throws unless the header's key may read /metrics (`metrics:read` or `admin`). */
  checkMetricsAccess(header: string | null | undefined): void {
    const key = this.identify(header);
    if (grants(key.scopes, "metrics:read")) return;
    this.denied.inc({ key: key.name, reason: "scope" });
    throw new ConnectError(`API key '${key.name}' lacks scope 'metrics:read'`, Code.PermissionDenied);
  }

  private refuse(reason: DenialReason, message: string): never {
    this.denied.inc({ key: NO_KEY, reason });
    throw new ConnectError(message, Code.Unauthenticated);
  }

  private applyLimits(key: ApiKey, method: DescMethod): Admission {
    const stream = key.maxStreams !== undefined && method.methodKind !== "unary";
    if (!key.rate) return stream ? this.openStream(key) : undefined;
    const rate = key.rate;
    const checked = (waitMs: number): Admission => {
      if (waitMs > 0) throw this.exhausted(key, "requests", `API key '${key.name}' is over its rate of ${rate.perSecond} requests/s`, waitMs);
      return stream ? this.openStream(key) : undefined;
    };
    const waitMs = this.limiter.take(key.name, rate);
    return typeof waitMs === "number" ? checked(waitMs) : waitMs.then(checked);
  }

  private openStream(key: ApiKey): Admission {
    const checked = (close: StreamRelease | undefined) => {
      // When a stream ends is unknown: suggest a short wait.
      if (!close) throw this.exhausted(key, "streams", `API key '${key.name}' has ${key.maxStreams} streams open, its limit`, 1000);
      return close;
    };
    const close = this.limiter.openStream(key.name, key.maxStreams!);
    return isPromise(close) ? close.then(checked) : checked(close);
  }

  private exhausted(key: ApiKey, limit: "requests" | "streams", message: string, retryMs: number): ConnectError {
    this.limited.inc({ key: key.name, limit });
    // debug: the refused call's own warn line (observe.ts) carries this message, key name included.
    this.log.debug({ key: key.name, limit, retryMs }, "API key over its limit");
    return resourceExhausted(message, retryMs);
  }
}

function keyOf(k: ApiKeyConfig, index: number): ApiKey {
  if (typeof k === "string") return { name: plainKeyName(index), admitted: 0, scopes: new Set(["admin"]), rate: undefined, maxStreams: undefined };
  const rps = k.limits?.requestsPerSecond;
  return {
    name: k.name,
    admitted: 0,
    scopes: new Set(k.scopes),
    rate: rps === undefined ? undefined : { perSecond: rps, burst: k.limits?.burst ?? Math.max(1, Math.ceil(rps)) },
    maxStreams: k.limits?.concurrentStreams,
  };
}

/** The digest a configured key is compared by: given as `sha256:<hex>`, or computed from the key. */
function storedDigest(configured: string): Buffer {
  return HASHED_KEY.test(configured) ? Buffer.from(configured.slice("sha256:".length), "hex") : sha256(configured);
}

// Comparing fixed-size digests keeps the comparison constant-time regardless of key length.
function sha256(key: string): Buffer {
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
