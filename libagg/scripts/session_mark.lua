--input: KEYS[1] meta: the session's meta hash
--input: ARGV[1] source: the resource whose call got its HTTP answer (accepted)
--output: integer 1 when source was added to meta's "calls", 0 when the session is not open or
--output: does not know source (nothing written)
-- "calls" lists, as netstrings "<length>:<name>,", the sources that a re-delivered fan-out
-- message must not call again (session_state_called reads it). Appending is enough: a source
-- appears twice only if it was called twice, which this is here to prevent.
local meta, source = KEYS[1], ARGV[1]
local m = redis.call('HMGET', meta, 'state', 'sources', 'calls')
if m[1] ~= 'open' then
  return 0
end
-- sources is a JSON array of names that session_open checked (see session_record).
if not string.find(m[2], cjson.encode(source), 1, true) then
  local known = false
  for _, s in ipairs(cjson.decode(m[2])) do
    if s == source then
      known = true
    end
  end
  if not known then
    return 0
  end
end
redis.call('HSET', meta, 'calls', (m[3] or '') .. #source .. ':' .. source .. ',')
return 1
