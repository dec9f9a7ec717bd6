--input: KEYS[1] meta: the session's meta hash
--input: ARGV[1] claims: the sources the fan-out message asks to call, as netstrings "<length>:<name>,"
--output: array {state, seq, calls}, as HMGET meta state seq calls gives it (nil when absent),
--output: with calls as it was before this claim. When the session is open, every source of
--output: claims that the session knows and calls did not list is appended to calls.
-- "calls" lists the sources whose call a worker has begun: the fan-out reads and claims in one
-- step, so a re-delivered message (its worker died, or its partition moved) calls none of them
-- again. At most once: a worker that dies between this claim and the call leaves that source
-- to the deadline (TIMEOUT) rather than asking a hospital system twice.
local meta, claims = KEYS[1], ARGV[1]
local m = redis.call('HMGET', meta, 'state', 'seq', 'calls', 'sources')
if m[1] ~= 'open' then
  return {m[1], m[2], m[3]}
end
local calls = m[3] or ''
local added = ''
local sources = nil
local i = 1
while i <= #claims do
  local colon = string.find(claims, ':', i, true)
  if not colon then
    return redis.error_reply('ERR invalid claims')
  end
  local len = tonumber(string.sub(claims, i, colon - 1))
  if not len or string.sub(claims, colon + 1 + len, colon + 1 + len) ~= ',' then
    return redis.error_reply('ERR invalid claims')
  end
  local piece = string.sub(claims, i, colon + 1 + len)
  local name = string.sub(claims, colon + 1, colon + len)
  i = colon + 2 + len
  -- Names are A-Z a-z 0-9 . _ - (reslist), so a netstring is found only whole.
  if not string.find(calls, piece, 1, true) and not string.find(added, piece, 1, true) then
    -- sources is a JSON array of names that session_open checked; a quoted name is found
    -- whole, only a miss pays for decoding.
    local known = string.find(m[4], cjson.encode(name), 1, true)
    if not known then
      sources = sources or cjson.decode(m[4])
      for k = 1, #sources do
        if sources[k] == name then
          known = true
        end
      end
    end
    if known then
      added = added .. piece
    end
  end
end
if added ~= '' then
  redis.call('HSET', meta, 'calls', calls .. added)
end
return {m[1], m[2], m[3]}
