--input: KEYS[1] meta: the session's meta hash
--input: KEYS[2] out: the session's outcome hash (source -> status)
--input: KEYS[3] log: the session's event log (stream)
--input: KEYS[4] deadlines: the deadline index of the session's bucket (sorted set)
--input: KEYS[5] audit: the audit outbox of the session's bucket (stream; worker/auditrelay.c)
--input: ARGV[1] cid: correlationId
--input: ARGV[2] channel: the session's pub/sub channel
--input: ARGV[3] patientId: the patient
--input: ARGV[4] strategy: SSE | WAIT_FOR_EVERYONE
--input: ARGV[5] createdMs: epoch ms
--input: ARGV[6] deadlineMs: epoch ms
--input: ARGV[7] sourcesJSON: JSON array of distinct source names
--input: ARGV[8] ttlS: SESSION_RETENTION_S
--input: ARGV[9] nowMs: epoch ms
--input: ARGV[10] traceId: the session's W3C trace id, "" for none; kept as meta's trace so that
--input:   every event of the session carries it
--input: ARGV[11] owner: the principal that opened the session (meta's owner): only it may read
--input:   the session's stream under AUTH_MODE=jwt
--output: integer 1 when the session was created, with its "requested" audit record (with no
--output:   sources it is also completed: summary seq 1 and the "completed" record), 0 when it
--output:   already existed
--output: error reply "ERR invalid ..." when an argument is malformed
local meta, out, log, deadlines, audit = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, channel, patient, strategy = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local created, deadline = tonumber(ARGV[5]), tonumber(ARGV[6])
local sources_json, ttl, now = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local trace = ARGV[10] or ''
local owner = ARGV[11] or ''

if not created or not deadline or not ttl or ttl <= 0 or not now then
  return redis.error_reply('ERR invalid number argument')
end
local okdec, sources = pcall(cjson.decode, sources_json)
if owner == '' then
  return redis.error_reply('ERR invalid owner: empty')
end
if not okdec or type(sources) ~= 'table' or not string.find(sources_json, '^%s*%[') then
  return redis.error_reply('ERR invalid sources: not a JSON array')
end
local seen = {}
for i = 1, #sources do
  local s = sources[i]
  if type(s) ~= 'string' or s == '' or seen[s] then
    return redis.error_reply('ERR invalid sources: names must be distinct non-empty strings')
  end
  seen[s] = true
end
local n = #sources

if redis.call('EXISTS', meta) == 1 then
  return 0
end
-- Numbers go in as text ('%d', '0'): a Lua number given to redis.call is formatted as a double.
local fields = {'patientId', patient, 'strategy', strategy,
  'created', string.format('%d', created), 'deadline', string.format('%d', deadline),
  'sources', sources_json, 'n', string.format('%d', n), 'seq', '0', 'state', 'open',
  'respondents', '0', 'errors', '0', 'owner', owner}
if trace ~= '' then
  fields[#fields + 1] = 'trace'
  fields[#fields + 1] = trace
end
redis.call('HSET', meta, unpack(fields))

-- The audit record is written by the call that creates the session (the outbox: nothing can die
-- between the two); schemas/kafka/audit.schema.json. The principal is the owner.
local who = '{"correlationId":' .. cjson.encode(cid) .. ',"principal":' .. cjson.encode(owner) ..
  ',"patientId":' .. cjson.encode(patient) .. ',"strategy":' .. cjson.encode(strategy)
local trace_field = trace ~= '' and ',"traceId":' .. cjson.encode(trace) or ''
redis.call('XADD', audit, '*', 'type', 'requested', 'cid', cid, 'trace', trace, 'd',
  '{"type":"requested",' .. string.sub(who, 2) .. ',"sources":' .. sources_json ..
  ',"requestedAt":' .. string.format('%d', created) .. trace_field .. '}')

if n == 0 then
  redis.call('XADD', audit, '*', 'type', 'completed', 'cid', cid, 'trace', trace, 'd',
    '{"type":"completed",' .. string.sub(who, 2) .. ',"requestedAt":' .. string.format('%d', created) ..
    ',"completedAt":' .. string.format('%d', now) ..
    ',"completedBy":"ALL_RESPONDED","respondents":0,"errors":0,"sources":[]' .. trace_field .. '}')
  local data = '{"source":"AGGREGATOR","correlationId":' .. cjson.encode(cid) ..
    ',"status":"COMPLETE","respondents":0,"errors":0,"completedBy":"ALL_RESPONDED","elapsedMs":' ..
    string.format('%d', now - created) .. (trace ~= '' and ',"traceId":' .. cjson.encode(trace) or '') .. '}'
  redis.call('XADD', log, '0-1', 'e', 'summary', 'd', data)
  redis.call('HSET', meta, 'seq', 1, 'state', 'done', 'completedBy', 'ALL_RESPONDED')
  redis.call('PUBLISH', channel, '1 summary ' .. data)
else
  redis.call('ZADD', deadlines, string.format('%d', deadline), cid)
end
-- Until it completes, the session lives for its deadline plus the retention; every key that
-- session_record or session_expire creates later takes meta's remaining TTL, and completion
-- sets all three to the retention again.
if n == 0 then
  redis.call('EXPIRE', meta, ttl)
  redis.call('EXPIRE', log, ttl)
else
  local life = math.max(deadline - now, 0) + ttl * 1000
  local lifes = string.format('%d', life)
  redis.call('PEXPIRE', meta, lifes)
  -- The bucket's index outlives its latest session, so it too is a key with a TTL; an entry is
  -- removed when its session completes or expires, long before.
  if redis.call('PTTL', deadlines) < life then
    redis.call('PEXPIRE', deadlines, lifes)
  end
end
return 1
