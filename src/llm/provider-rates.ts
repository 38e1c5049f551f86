// Per-provider requestsPerMinute and tokensPerMinute, checked right before each upstream
// attempt: token buckets (src/platform/rate-limit.ts) that refill a minute's budget over a
// minute, up to a minute's budget at once. In one process a MemoryRateLimiter holds them; with
// llm.limits.scope global a RedisRateLimiter, so every replica draws on one budget.
//
// Tokens are reserved before the call (the prompt estimated, plus max_tokens: the most the call
// can produce) and corrected when the upstream reports its usage; a call that fails gives its
// max_tokens back (what it produced is unknown, the prompt was sent).
import type { RateLimiter, RequestRate } from "../platform/rate-limit.js";

export interface ProviderRate {
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

/** The provider cannot take the call now: the gateway tries the next model, else answers RESOURCE_EXHAUSTED. */
export class ProviderRateLimitedError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** What one admitted attempt holds of its provider's token budget. */
export interface TokenReservation {
  /** The attempt answered, using `usedTokens` as the upstream reported (undefined: it reported none, the reservation stands). */
  settle(usedTokens: number | undefined): void;
  /** The attempt failed: its max_tokens go back. */
  fail(): void;
}

/** Tokens an attempt reserves: its prompt (estimated) and the most it may generate. */
export interface TokenCost {
  readonly prompt: number;
  readonly output: number;
}

const NOTHING_HELD: TokenReservation = { settle: () => undefined, fail: () => undefined };

/** One provider's rates over a limiter (shared by all providers: keys name the provider). */
export class ProviderRateGate {
  private readonly requests: RequestRate | undefined;
  private readonly tokens: RequestRate | undefined;

  constructor(
    private readonly limiter: RateLimiter,
    readonly provider: string,
    readonly rate: ProviderRate,
  ) {
    this.requests = perMinute(rate.requestsPerMinute);
    this.tokens = perMinute(rate.tokensPerMinute);
  }

  /** Admits one upstream attempt costing `cost` tokens, or throws ProviderRateLimitedError. */
  async admit(cost: TokenCost): Promise<TokenReservation> {
    const requestsKey = `${this.provider}:requests`;
    const tokensKey = `${this.provider}:tokens`;
    if (this.requests) {
      const wait = await this.limiter.take(requestsKey, this.requests);
      if (wait > 0) throw new ProviderRateLimitedError(`provider '${this.provider}' is over its ${this.rate.requestsPerMinute} requests per minute`, wait);
    }
    if (!this.tokens) return NOTHING_HELD;
    const reserved = cost.prompt + cost.output;
    const wait = await this.limiter.take(tokensKey, this.tokens, reserved);
    if (wait > 0) {
      // The request taken above never went upstream.
      if (this.requests) this.limiter.charge(requestsKey, this.requests, -1);
      throw new ProviderRateLimitedError(`provider '${this.provider}' is over its ${this.rate.tokensPerMinute} tokens per minute (this call reserves ${reserved})`, wait);
    }
    const tokens = this.tokens;
    let settled = false;
    const correct = (by: number) => {
      if (settled) return;
      settled = true;
      if (by !== 0) this.limiter.charge(tokensKey, tokens, by);
    };
    return { settle: (used) => correct(used === undefined ? 0 : used - reserved), fail: () => correct(-cost.output) };
  }
}

function perMinute(n: number | undefined): RequestRate | undefined {
  return n === undefined ? undefined : { perSecond: n / 60, burst: n };
}
