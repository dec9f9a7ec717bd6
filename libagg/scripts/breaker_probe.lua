--input: KEYS[1] breaker: the resource's circuit breaker hash (state, fails, until)
--input: ARGV[1] nowMs: epoch ms
--input: ARGV[2] leaseMs: how long the probe is this caller's (the call's timeout and a margin)
--input: ARGV[3] ttlMs: TTL of the key after this write
--output: array {state, fails, until, granted} as breaker_fail, granted 1 when this caller owns
--output: the probe: the circuit was open or probing with until <= nowMs (the cool-down, or a
--output: lost probe's lease, is over); it is then probing until nowMs + leaseMs. Else granted 0
--output: and nothing changes (closed: call as usual; open or probing: fail fast).
local key = KEYS[1]
local now, lease, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not now or not lease or lease <= 0 or not ttl or ttl <= 0 then
  return redis.error_reply('ERR invalid argument')
end
local m = redis.call('HMGET', key, 'state', 'fails', 'until')
local state, fails, till = m[1] or 'closed', tonumber(m[2]) or 0, tonumber(m[3]) or 0
if state == 'closed' or till > now then
  return {state, fails, till, 0}
end
till = now + lease
redis.call('HSET', key, 'state', 'probing', 'until', string.format('%d', till))
redis.call('PEXPIRE', key, ttl)
return {'probing', fails, till, 1}
