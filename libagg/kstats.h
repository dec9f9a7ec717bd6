/* kstats: what the Kafka adapter reads from librdkafka's statistics JSON: broker health, consumer lag (pure). */
#ifndef AGG_KSTATS_H
#define AGG_KSTATS_H

#include <stddef.h>

/* Reads one statistics document (json, len bytes; librdkafka's statistics.interval.ms
 * callback). Returns 1 when it shows a broker (nodeid >= 0, not a bootstrap placeholder) in
 * state "UP", 0 when not (or when json is not JSON: that is no sign of health), -1 when it
 * could not be read for lack of memory (that says nothing about the brokers).
 * When lag is not NULL and the document was read (return 0 or 1 after a successful parse),
 * lag[i] gets the sum of "consumer_lag" over the partitions of topics[i] in the document,
 * a partition's -1 (unknown: not fetched by this consumer) left out, 0 when none is known;
 * lag is left untouched when json is not JSON or memory ran out. topics and json are borrowed
 * for the call. */
int kstats_read(const char *json, size_t len, const char *const *topics, int n_topics,
                long long *lag);

#endif
