--input: KEYS[1] breaker: the resource's circuit breaker hash (state, fails, until)
--input: ARGV[1] nowMs: epoch ms
--input: ARGV[2] threshold: consecutive failures that open the circuit (BREAKER_FAILURES)
--input: ARGV[3] cooldownMs: how long an opened circuit stays open (BREAKER_COOLDOWN_MS)
--input: ARGV[4] probe: "1" when the failed call was the probe, else "0"
--input: ARGV[5] ttlMs: TTL of the key after this write
--output: array {state, fails, until, 0}: state "closed" | "open" | "probing", the consecutive
--output: failures, the end of the cool-down (open) or of the probe's lease (probing), epoch ms.
--output: closed: fails+1, and open with until = nowMs + cooldownMs at threshold; probing and
--output: probe "1": open again for a cool-down; otherwise (open, or another call's failure
--output: while a probe is out) nothing changes: the probe decides.
local key = KEYS[1]
local now, threshold, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local probe, ttl = ARGV[4], tonumber(ARGV[5])
if not now or not threshold or threshold < 1 or not cooldown or cooldown < 0 or not ttl or
    ttl <= 0 or (probe ~= '0' and probe ~= '1') then
  return redis.error_reply('ERR invalid argument')
end
local m = redis.call('HMGET', key, 'state', 'fails', 'until')
local state, fails, till = m[1] or 'closed', tonumber(m[2]) or 0, tonumber(m[3]) or 0
if state == 'closed' then
  fails = fails + 1
  if fails >= threshold then
    state, till = 'open', now + cooldown
  end
elseif state == 'probing' and probe == '1' then
  state, till = 'open', now + cooldown
else
  return {state, fails, till, 0}
end
redis.call('HSET', key, 'state', state, 'fails', fails, 'until', string.format('%d', till))
redis.call('PEXPIRE', key, ttl)
return {state, fails, till, 0}
