--input: KEYS[1] audit: a bucket's audit outbox (stream)
--input: ARGV[1] group: the relays' consumer group
--input: ARGV[2] id: the entry Kafka confirmed
--output: integer: entries acknowledged (0 when another relay acknowledged it first); the entry
--output:   is deleted as well, so the stream's length is what is still to publish
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
