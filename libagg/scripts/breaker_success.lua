--input: KEYS[1] breaker: the resource's circuit breaker hash (state, fails, until)
--input: ARGV[1] probe: "1" when the call that succeeded was the probe, else "0"
--output: array {state, fails, until, 0} as breaker_fail: closed (the key deleted: a closed
--output: circuit without failures needs no state) when it was closed or the probe succeeded;
--output: otherwise (open, or another call while a probe is out) unchanged: the probe decides.
local key, probe = KEYS[1], ARGV[1]
if probe ~= '0' and probe ~= '1' then
  return redis.error_reply('ERR invalid argument')
end
local m = redis.call('HMGET', key, 'state', 'fails', 'until')
local state = m[1] or 'closed'
if state == 'closed' or (state == 'probing' and probe == '1') then
  redis.call('DEL', key)
  return {'closed', 0, 0, 0}
end
return {state, tonumber(m[2]) or 0, tonumber(m[3]) or 0, 0}
