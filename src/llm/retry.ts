// Backoff between upstream attempts.
import type { RetryConfig } from "./config.js";

/** Exponential backoff with jitter; a Retry-After from upstream is a floor. */
export function backoffMs(policy: RetryConfig, attempt: number, retryAfterMs: number | undefined, random = Math.random): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (attempt - 1));
  const jittered = base * (1 - policy.jitter * random());
  return Math.ceil(Math.max(jittered, retryAfterMs ?? 0));
}

/** Waits, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
