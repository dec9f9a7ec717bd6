/* kstats: what the Kafka adapter reads from librdkafka's statistics JSON: broker health, consumer lag, partition counts (pure). */
#ifndef AGG_KSTATS_H
#define AGG_KSTATS_H

#include <stddef.h>

/* What one statistics document says of one topic. */
typedef struct kstats_topic {
    long long lag;  /* the sum of the partitions' known "consumer_lag"; 0 when none is known */
    int partitions; /* the partitions it lists (from the metadata), librdkafka's -1 left out */
} kstats_topic;

/* Reads one statistics document (json, len bytes; librdkafka's statistics.interval.ms
 * callback). Returns 1 when it shows a broker (nodeid >= 0, not a bootstrap placeholder) in
 * state "UP", 0 when not (or when json is not JSON: that is no sign of health), -1 when it
 * could not be read for lack of memory (that says nothing about the brokers).
 * When out is not NULL and the document was read (return 0 or 1 after a successful parse),
 * out[i] gets what it says of topics[i]: the sum of "consumer_lag" over its partitions, a
 * partition's -1 (unknown: not fetched by this consumer) left out, and how many partitions it
 * has (0 when the document does not list the topic); out is left untouched when json is not
 * JSON or memory ran out. topics and json are borrowed for the call. */
int kstats_read(const char *json, size_t len, const char *const *topics, int n_topics,
                kstats_topic *out);

#endif
