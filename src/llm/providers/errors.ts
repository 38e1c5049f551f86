// Maps upstream failures (HTTP statuses, connection errors, timeouts) to ProviderError kinds,
// without ever echoing credentials.
import { ProviderError, type ProviderErrorKind } from "./provider.js";

/** Parses Retry-After (seconds or an HTTP date) and the millisecond variant some providers send. */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function kindForStatus(status: number): ProviderErrorKind {
  if (status === 429) return "rate_limited";
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not_found";
  if (status === 408 || status === 409 || status >= 500) return "unavailable";
  return "bad_request";
}

/** Removes the key from upstream text (some providers quote a prefix of a rejected key). */
export function redact(text: string, secret: string | undefined): string {
  let out = text;
  if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  // Partially masked keys as OpenAI prints them ("sk-abc***********xyz").
  return out.replace(/\b(sk|key|hf|co)[-_][A-Za-z0-9_*-]{6,}/g, "[redacted]");
}

export interface HttpFailure {
  status?: number;
  headers?: { get(name: string): string | null };
  message: string;
}

/**
 * Builds the ProviderError for a failed upstream call. `signal` tells an abort by us
 * (cancellation or deadline) from a connection failure; auth failures never carry upstream text.
 */
export function providerError(provider: string, failure: HttpFailure, signal: AbortSignal, secret: string | undefined, cause?: unknown): ProviderError {
  if (signal.aborted) return new ProviderError(`call to provider '${provider}' was cancelled`, "cancelled", { cause });
  const { status } = failure;
  if (status === undefined) {
    return new ProviderError(`provider '${provider}' is unreachable: ${redact(failure.message, secret)}`, "unavailable", { cause });
  }
  const kind = kindForStatus(status);
  if (kind === "auth") {
    return new ProviderError(
      `provider '${provider}' rejected the configured credentials (HTTP ${status}); check llm.providers.${provider}.apiKey or apiKeyEnv`,
      "auth",
      { status },
    );
  }
  const retryAfter = kind === "rate_limited" || kind === "unavailable" ? retryAfterMs(failure.headers) : undefined;
  return new ProviderError(`provider '${provider}' answered HTTP ${status}: ${redact(failure.message, secret)}`, kind, {
    status,
    retryAfterMs: retryAfter,
    cause,
  });
}

/** A stream that ended without its closing event was cut, not finished. */
export function truncatedStream(provider: string): ProviderError {
  return new ProviderError(`provider '${provider}' ended the stream before it was complete`, "unavailable");
}

export function missingKey(provider: string): ProviderError {
  return new ProviderError(`provider '${provider}' has no API key; set llm.providers.${provider}.apiKey or apiKeyEnv`, "auth");
}
