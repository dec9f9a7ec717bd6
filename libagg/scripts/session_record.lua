--input: KEYS[1] meta: the session's meta hash
--input: KEYS[2] out: the session's outcome hash (source -> status)
--input: KEYS[3] log: the session's event log (stream)
--input: KEYS[4] deadlines: the deadline index of the session's bucket (sorted set)
--input: KEYS[5] audit: the audit outbox of the session's bucket (stream; worker/auditrelay.c)
--input: ARGV[1] cid: correlationId
--input: ARGV[2] channel: the session's pub/sub channel
--input: ARGV[3] source: resource name
--input: ARGV[4] status: ok | REJECTED | TIMEOUT | CONNECTION_CLOSED | ERROR
--input: ARGV[5] eventJSON: the outcome event's data (a JSON object); stored and published as is,
--input:   plus "elapsedMs" (now - created) and the session's "traceId" when the object has no
--input:   such field
--input: ARGV[6] ttlS: SESSION_RETENTION_S
--input: ARGV[7] patientId: must equal the session's
--input: ARGV[8] nowMs: epoch ms
--output: array {result, seq}: {"recorded", eventSeq} | {"completed", summarySeq, elapsedMs} (the
--output:   "completed" audit record appended) |
--output: {"invalid-status",0} | {"unknown-session",0} | {"finished",0} | {"unknown-source",0} |
--output: {"patient-mismatch",0} | {"duplicate",0}  (checked in this order; "finished" also once
--output:   nowMs is past the session's deadline)
local meta, out, log, deadlines, audit = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, channel, source, status, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, patient, now = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])

if not ttl or ttl <= 0 or not now then
  return redis.error_reply('ERR invalid number argument')
end
local respondent = status == 'ok'
local failed = status == 'TIMEOUT' or status == 'CONNECTION_CLOSED' or status == 'ERROR'
if not respondent and not failed and status ~= 'REJECTED' then
  return {'invalid-status', 0}
end

-- One read of everything this needs; counters are written back in one HSET (fewer calls per
-- callback: this script runs three times per session and its calls were most of Redis' CPU).
local m = redis.call('HMGET', meta, 'state', 'sources', 'patientId', 'n', 'created', 'deadline',
  'seq', 'respondents', 'errors', 'trace', 'owner', 'strategy')
if not m[1] then
  return {'unknown-session', 0}
end
-- Past its deadline a session is over even before a worker has expired it (e.g. Redis was
-- down at the deadline): a late answer must not turn into "ok" then.
if m[1] == 'done' or now > tonumber(m[6]) then
  return {'finished', 0}
end
-- sources is a JSON array of names that session_open checked. A quoted name is found whole;
-- only a miss pays for decoding (a name that JSON may spell two ways, such as one with '/').
local function known_source()
  if string.find(m[2], cjson.encode(source), 1, true) then
    return true
  end
  local sources = cjson.decode(m[2])
  for i = 1, #sources do
    if sources[i] == source then
      return true
    end
  end
  return false
end
if not known_source() then
  return {'unknown-source', 0}
end
if m[3] ~= patient then
  return {'patient-mismatch', 0}
end
if redis.call('HSETNX', out, source, status) == 0 then
  return {'duplicate', 0}
end

local created = tonumber(m[5])
local elapsed = string.format('%d', now - created)
-- Callbacks carry no elapsedMs: only the session knows when it started; nor its trace id.
local trace_json = m[10] and (',"traceId":' .. cjson.encode(m[10])) or ''
local extra = ''
if not string.find(event, '"elapsedMs"', 1, true) then
  extra = ',"elapsedMs":' .. elapsed
end
if m[10] and not string.find(event, '"traceId"', 1, true) then
  extra = extra .. trace_json
end
if extra ~= '' and string.byte(event, -1) == 125 then -- '}'
  if string.byte(event, -2) == 123 then -- '{'
    extra = string.sub(extra, 2)
  end
  event = string.sub(event, 1, -2) .. extra .. '}'
end

-- Counters go into text as integers ('%d'), once: Lua's own conversion of a number (by '..', or
-- a number given to redis.call) formats a double ("%.14g"), a cost seen in Redis' profile.
local seq = tonumber(m[7]) + 1
local seqs = string.format('%d', seq)
local respondents = string.format('%d', tonumber(m[8]) + (respondent and 1 or 0))
local errors = string.format('%d', tonumber(m[9]) + (failed and 1 or 0))
redis.call('XADD', log, '0-' .. seqs, 'e', 'callback', 'd', event)
redis.call('PUBLISH', channel, seqs .. ' callback ' .. event)

-- Each outcome in out came with one seq (here or in session_expire), so while the session is
-- open seq counts the outcomes: no HLEN of out.
if seq < tonumber(m[4]) then
  redis.call('HSET', meta, 'seq', seqs, 'respondents', respondents, 'errors', errors)
  if seq == 1 then
    -- out and log were just created: they live as long as meta (see session_open).
    local pttl = redis.call('PTTL', meta)
    redis.call('PEXPIRE', out, pttl)
    redis.call('PEXPIRE', log, pttl)
  end
  return {'recorded', seq}
end

local cid_json = cjson.encode(cid)
local data = '{"source":"AGGREGATOR","correlationId":' .. cid_json ..
  ',"status":"COMPLETE","respondents":' .. respondents .. ',"errors":' .. errors ..
  ',"completedBy":"ALL_RESPONDED","elapsedMs":' .. elapsed .. trace_json .. '}'
seq = seq + 1
seqs = string.format('%d', seq)
redis.call('XADD', log, '0-' .. seqs, 'e', 'summary', 'd', data)
redis.call('HSET', meta, 'seq', seqs, 'respondents', respondents, 'errors', errors, 'state', 'done',
  'completedBy', 'ALL_RESPONDED')
redis.call('PUBLISH', channel, seqs .. ' summary ' .. data)
redis.call('ZREM', deadlines, cid)
-- The audit record, in the call that completes the session (the outbox; same text as
-- session_expire's: scripts cannot share code). Each source's status comes from out.
local st = redis.call('HGETALL', out)
local status_of = {}
for i = 1, #st, 2 do
  status_of[st[i]] = st[i + 1]
end
local list = cjson.decode(m[2])
local parts = {}
for i = 1, #list do
  parts[i] = '{"source":' .. cjson.encode(list[i]) .. ',"status":' .. cjson.encode(status_of[list[i]] or 'TIMEOUT') .. '}'
end
redis.call('XADD', audit, '*', 'type', 'completed', 'cid', cid, 'trace', m[10] or '', 'd',
  '{"type":"completed","correlationId":' .. cid_json .. ',"principal":' ..
  cjson.encode(m[11] or 'anonymous') .. ',"patientId":' .. cjson.encode(m[3]) .. ',"strategy":' ..
  cjson.encode(m[12] or '') .. ',"requestedAt":' .. string.format('%d', created) ..
  ',"completedAt":' .. string.format('%d', now) .. ',"completedBy":"ALL_RESPONDED","respondents":' ..
  respondents .. ',"errors":' .. errors .. ',"sources":[' .. table.concat(parts, ',') .. ']' ..
  trace_json .. '}')
-- Retention counts from completion.
redis.call('EXPIRE', meta, ttl)
redis.call('EXPIRE', out, ttl)
redis.call('EXPIRE', log, ttl)
return {'completed', seq, now - created}
