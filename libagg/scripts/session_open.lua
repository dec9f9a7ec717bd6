--input: KEYS[1] agg:{cid}:meta (hash)
--input: KEYS[2] agg:{cid}:out (hash)
--input: KEYS[3] agg:{cid}:log (stream)
--input: KEYS[4] agg:deadlines (sorted set, shared)
--input: ARGV[1] cid: correlationId
--input: ARGV[2] patientId
--input: ARGV[3] strategy
--input: ARGV[4] createdMs: epoch ms
--input: ARGV[5] deadlineMs: epoch ms
--input: ARGV[6] sourcesJSON: JSON array of distinct source names
--input: ARGV[7] ttlS: SESSION_RETENTION_S
--input: ARGV[8] nowMs: epoch ms
--output: integer 1 when the session was created (with no sources it is also completed: summary seq 1), 0 when it already existed
--output: error reply "ERR invalid ..." when an argument is malformed
local meta, out, log, deadlines = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cid, patient, strategy = ARGV[1], ARGV[2], ARGV[3]
local created, deadline = tonumber(ARGV[4]), tonumber(ARGV[5])
local ttl, now = tonumber(ARGV[7]), tonumber(ARGV[8])

if not created or not deadline or not ttl or ttl <= 0 or not now then
  return redis.error_reply('ERR invalid number argument')
end
local okdec, sources = pcall(cjson.decode, ARGV[6])
if not okdec or type(sources) ~= 'table' or not string.find(ARGV[6], '^%s*%[') then
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


redis.call('HSET', meta, 'patientId', patient, 'strategy', strategy,
  'created', string.format('%d', created), 'deadline', string.format('%d', deadline),
  'sources', ARGV[6], 'n', n, 'seq', 0, 'state', 'open', 'respondents', 0, 'errors', 0)

if n == 0 then
  local data = '{"source":"AGGREGATOR","correlationId":' .. cjson.encode(cid) ..
    ',"status":"COMPLETE","respondents":0,"errors":0,"completedBy":"ALL_RESPONDED","elapsedMs":' ..
    string.format('%d', now - created) .. '}'
  redis.call('XADD', log, '0-1', 'e', 'summary', 'd', data)
  redis.call('HSET', meta, 'seq', 1, 'state', 'done', 'completedBy', 'ALL_RESPONDED')
  redis.call('PUBLISH', 'agg:{' .. cid .. '}:ev', '1 summary ' .. data)
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
  redis.call('PEXPIRE', meta, math.max(deadline - now, 0) + ttl * 1000)
end
return 1
