--input: KEYS[1] audit: a bucket's audit outbox (stream)
--input: ARGV[1] group: the relays' consumer group
--input: ARGV[2] ids: the entries Kafka confirmed (ARGV[2], ARGV[3], ...: one call per batch)
--output: integer: entries deleted (fewer when another relay acknowledged some first); the
--output:   entries are acknowledged as well, so the stream's length is what is still to publish
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
