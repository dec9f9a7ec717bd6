--input: KEYS[1] meta: the session's meta hash
--input: KEYS[2] out: the session's outcome hash (source -> status)
--input: KEYS[3] log: the session's event log (stream)
--input: KEYS[4] deadlines: the deadline index of the session's bucket (sorted set)
--input: KEYS[5] audit: the audit outbox of the session's bucket (stream; worker/auditrelay.c)
--input: ARGV[1] cid: correlationId
--input: ARGV[2] channel: the session's pub/sub channel
--input: ARGV[3] nowMs: epoch ms
--input: ARGV[4] ttlS: SESSION_RETENTION_S
--output: array {"expired", elapsedMs, source...} (TIMEOUT written for every source without an
--output: outcome, named after elapsedMs, then the summary with completedBy TIMEOUT, deadline
--output: removed, the "completed" audit record appended; elapsedMs: nowMs - created) |
--output: status string "not-due" (deadline > nowMs) | "gone" (no session or already done;
--output: deadline removed)
local meta, out, log, deadlines, audit = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, channel, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

if not now or not ttl or ttl <= 0 then
  return redis.error_reply('ERR invalid number argument')
end
local m = redis.call('HMGET', meta, 'state', 'sources', 'patientId', 'created', 'deadline', 'trace',
  'owner', 'strategy')
if not m[1] or m[1] == 'done' then
  redis.call('ZREM', deadlines, cid)
  return 'gone'
end
if tonumber(m[5]) > now then
  return 'not-due'
end

local elapsed = string.format('%d', now - tonumber(m[4]))
-- Every event of the session carries its trace id (kept by session_open).
local trace_json = m[6] and (',"traceId":' .. cjson.encode(m[6])) or ''
local sources = cjson.decode(m[2])
local seq
local reply = {'expired', tonumber(now - tonumber(m[4]))}
for i = 1, #sources do
  local s = sources[i]
  if redis.call('HSETNX', out, s, 'TIMEOUT') == 1 then
    local data = '{"source":' .. cjson.encode(s) .. ',"patientId":' .. cjson.encode(m[3]) ..
      ',"correlationId":' .. cjson.encode(cid) .. ',"status":"TIMEOUT","notes":[],"elapsedMs":' ..
      elapsed .. trace_json .. '}'
    seq = redis.call('HINCRBY', meta, 'seq', 1)
    redis.call('XADD', log, '0-' .. seq, 'e', 'callback', 'd', data)
    redis.call('PUBLISH', channel, seq .. ' callback ' .. data)
    redis.call('HINCRBY', meta, 'errors', 1)
    reply[#reply + 1] = s
  end
end
local counts = redis.call('HMGET', meta, 'respondents', 'errors')
local data = '{"source":"AGGREGATOR","correlationId":' .. cjson.encode(cid) ..
  ',"status":"COMPLETE","respondents":' .. counts[1] .. ',"errors":' .. counts[2] ..
  ',"completedBy":"TIMEOUT","elapsedMs":' .. elapsed .. trace_json .. '}'
seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('XADD', log, '0-' .. seq, 'e', 'summary', 'd', data)
redis.call('HSET', meta, 'state', 'done', 'completedBy', 'TIMEOUT')
redis.call('PUBLISH', channel, seq .. ' summary ' .. data)
redis.call('ZREM', deadlines, cid)
-- The audit record, in the call that completes the session (the outbox; same text as
-- session_record's: scripts cannot share code). Each source's status comes from out.
local st = redis.call('HGETALL', out)
local status_of = {}
for i = 1, #st, 2 do
  status_of[st[i]] = st[i + 1]
end
local parts = {}
for i = 1, #sources do
  parts[i] = '{"source":' .. cjson.encode(sources[i]) .. ',"status":' .. cjson.encode(status_of[sources[i]] or 'TIMEOUT') .. '}'
end
redis.call('XADD', audit, '*', 'type', 'completed', 'cid', cid, 'trace', m[6] or '', 'd',
  '{"type":"completed","correlationId":' .. cjson.encode(cid) .. ',"principal":' ..
  cjson.encode(m[7] or 'anonymous') .. ',"patientId":' .. cjson.encode(m[3]) .. ',"strategy":' ..
  cjson.encode(m[8] or '') .. ',"requestedAt":' .. m[4] .. ',"completedAt":' ..
  string.format('%d', now) .. ',"completedBy":"TIMEOUT","respondents":' .. counts[1] ..
  ',"errors":' .. counts[2] .. ',"sources":[' .. table.concat(parts, ',') .. ']' .. trace_json .. '}')
redis.call('EXPIRE', meta, ttl)
redis.call('EXPIRE', out, ttl)
redis.call('EXPIRE', log, ttl)
return reply
