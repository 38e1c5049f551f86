// A counting semaphore of leases in Redis, as Lua scripts (atomic on the server): each slot taken
// is a member of a sorted set scored by its expiry on Redis's clock (so replicas' clocks do not
// matter). Holders renew their leases while they hold them; a replica that dies stops renewing,
// so its slots come back after the TTL. Used by the LLM providers' concurrency limits
// (src/llm/redis-limiter.ts) and the API keys' stream limits (redis-rate-limit.ts).

// KEYS[1] leases; ARGV: lease id, limit, ttl ms. 1 when the slot was taken.
export const ACQUIRE_LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0`;

// KEYS[1] leases; ARGV: ttl ms, lease ids. Extends the leases still held; returns how many were lost.
export const RENEW_LEASES = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local lost = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  else
    lost = lost + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return lost`;

// KEYS[1] leases; ARGV: lease id, channel (empty: none), message. Gives the slot back and wakes the waiters.
export const RELEASE_LEASE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 and ARGV[2] ~= '' then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return 1`;
