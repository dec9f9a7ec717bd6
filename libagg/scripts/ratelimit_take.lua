--input: KEYS[1] bucket: one client's token bucket hash (tokens, ts), shared by every gateway
--input: ARGV[1] rps: tokens added per second (> 0)
--input: ARGV[2] burst: the bucket's size (>= 1)
--input: ARGV[3] ttlMs: TTL of the key after this write (at least the time to refill it)
--output: array {allowed, milliTokens}: allowed 1 when the request took a token, 0 when the
--output: bucket had less than one; milliTokens the tokens left times 1000, rounded down. The
--output: clock is the server's (TIME), so that gateways with skewed clocks share one bucket.
--output: A missing or expired key is a full bucket.
local key = KEYS[1]
local rps, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not rps or rps <= 0 or not burst or burst < 1 or not ttl or ttl <= 0 then
  return redis.error_reply('ERR invalid argument')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', key, 'tokens', 'ts')
local tokens, ts = tonumber(m[1]), tonumber(m[2])
if not tokens or not ts then
  tokens, ts = burst, now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rps / 1000)
  ts = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', key, 'tokens', string.format('%.6f', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', key, ttl)
return {allowed, math.floor(tokens * 1000)}
