/* kafka: librdkafka producer and consumer on the event loop. */
#ifndef AGG_KAFKA_H
#define AGG_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "conncfg.h"
#include "err.h"
#include "loop.h"

typedef struct kafka_config {
    const char *brokers;     /* KAFKA_BROKERS, "host:port,..." */
    const char *client_id;   /* e.g. "gateway" */
    long linger_ms;          /* KAFKA_LINGER_MS, producer batching delay */
    long message_timeout_ms; /* KAFKA_PRODUCE_TIMEOUT_MS: delivery fails after this */
    conncfg_kafka_security security; /* TLS and SASL (conncfg_kafka_load); zeroed = plaintext */
} kafka_config;

/* A consumer's group membership; a timing of 0 takes the default. The group
 * notices a dead member after session_timeout_ms (6000, a stock broker's
 * minimum) and tells the others at their next heartbeat (heartbeat_interval_ms,
 * 500); a member that takes no message for max_poll_interval_ms (300000)
 * leaves the group. */
typedef struct kafka_group {
    const char *id;             /* KAFKA_GROUP_ID */
    long session_timeout_ms;    /* KAFKA_SESSION_TIMEOUT_MS */
    long heartbeat_interval_ms; /* KAFKA_HEARTBEAT_INTERVAL_MS */
    long max_poll_interval_ms;  /* KAFKA_MAX_POLL_INTERVAL_MS */
} kafka_group;

typedef struct kafka_producer kafka_producer;
typedef struct kafka_consumer kafka_consumer;

/* ok=1 when the broker acknowledged (acks=all), else errstr says why. seconds: from
 * kafka_produce() to this report (librdkafka's message latency), -1 when unknown (a message
 * purged before it was sent). */
typedef void kafka_delivery_cb(int ok, const char *errstr, double seconds, void *arg);

/* Idempotent producer (acks=all). Delivery reports run on the loop. */
kafka_producer *kafka_producer_new(loop *l, const kafka_config *c, err_t *e);
/* Waits up to flush_ms for outstanding deliveries, then frees; deliveries
 * still pending are failed (done called with ok=0) during the call. Must not be
 * called from one of this producer's callbacks. */
void kafka_producer_free(kafka_producer *p, int flush_ms);
/* Tests only: makes librdkafka raise a fatal error on p's handle, as its idempotent producer
 * does on some leader changes; p then replaces its handle from the loop (what was queued fails,
 * each done callback once) and becomes healthy again. */
void kafka_producer_test_fatal(kafka_producer *p, const char *reason);
/* Queues a message (key and value copied); done runs exactly once on the
 * loop. AGG_ERR (done not called) when the local queue refuses it. */
int kafka_produce(kafka_producer *p, const char *topic, const char *key, size_t key_len,
                  const char *value, size_t value_len, kafka_delivery_cb *done, void *arg,
                  err_t *e);
/* One message header (both NUL-terminated strings, borrowed for the call). */
typedef struct kafka_header {
    const char *name;
    const char *value;
} kafka_header;
/* kafka_produce with headers[0..n_headers) (copied) on the message. */
int kafka_produce_headers(kafka_producer *p, const char *topic, const char *key, size_t key_len,
                          const char *value, size_t value_len, const kafka_header *headers,
                          size_t n_headers, kafka_delivery_cb *done, void *arg, err_t *e);
/* 1 when at least one broker connection is up (from librdkafka statistics,
 * refreshed every second), else 0. */
int kafka_producer_healthy(const kafka_producer *p);
/* Messages (and requests) not yet acknowledged by the broker. */
size_t kafka_producer_queued(const kafka_producer *p);

/* One consumed message. Everything is borrowed for the call only. */
typedef struct kafka_message {
    const char *topic;
    int topic_index; /* index of topic in the list given to kafka_consumer_new */
    int32_t partition;
    int64_t offset;
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    const void *headers; /* the message's headers (librdkafka's), NULL when it has none */
    int64_t timestamp_ms; /* the message's timestamp (producer's create time), -1 when none */
} kafka_message;

/* Copies the value of m's last header called name into out (outsz bytes, NUL-terminated).
 * AGG_ERR when m has no such header or its value does not fit (e.g. an old producer's
 * message: it has no headers). */
int kafka_message_header(const kafka_message *m, const char *name, char *out, size_t outsz);

typedef void kafka_message_cb(const kafka_message *m, void *arg);
/* Called when partitions of topic_index are revoked (before they go). */
typedef void kafka_revoke_cb(int topic_index, int32_t partition, void *arg);

/* Consumer in group g (borrowed for the call), subscribed to topics[0..n_topics). Offsets are
 * committed automatically, but only those passed to kafka_consumer_store().
 * Starts from the earliest offset when the group has none. Rebalancing is
 * cooperative (cooperative-sticky): a member joining or leaving moves only the
 * partitions that change owner, the others keep being consumed. The first
 * message of each newly assigned partition is logged at info. */
kafka_consumer *kafka_consumer_new(loop *l, const kafka_config *c, const kafka_group *g,
                                   const char *const *topics, int n_topics,
                                   kafka_message_cb *on_message, kafka_revoke_cb *on_revoke,
                                   void *arg, err_t *e);
/* Marks next_offset (the next message to read) as committable for the partition.
 * AGG_ERR when the partition is not assigned to this consumer (e.g. revoked);
 * offsets of revoked partitions are stored from on_revoke at the latest. */
int kafka_consumer_store(kafka_consumer *c, int topic_index, int32_t partition, int64_t next_offset,
                         err_t *e);
/* Commits stored offsets synchronously and leaves the group, then frees.
 * on_revoke is not called for the partitions given up here. Must not be called
 * from one of this consumer's callbacks. */
void kafka_consumer_free(kafka_consumer *c);
int kafka_consumer_healthy(const kafka_consumer *c);
/* Partitions assigned to this consumer now (of every topic); 0 before the
 * first assignment, and during an eager rebalance between revoke and assign. */
int kafka_consumer_assigned(const kafka_consumer *c);
/* The consumer's lag on topic_index (messages behind the partitions' ends, summed over the
 * partitions it fetches), from librdkafka's statistics, refreshed every second; 0 before the
 * first statistics and for an index out of range. */
long long kafka_consumer_lag(const kafka_consumer *c, int topic_index);
/* The partitions topic_index has (from the metadata in librdkafka's statistics, refreshed
 * every second), owned by this consumer or not; 0 before the first statistics and for an
 * index out of range. */
int kafka_consumer_partitions(const kafka_consumer *c, int topic_index);

/* hold 1: the consumer hands out no more messages (librdkafka keeps fetching
 * up to its queue bound, then stops); hold 0: it drains at once. Rebalance
 * and other callbacks wait while held, so a hold must end within
 * max_poll_interval_ms (5 minutes) or the group moves the partitions on.
 * Must not be called from this consumer's message callback with hold 0. */
void kafka_consumer_hold(kafka_consumer *c, int hold);
int kafka_consumer_held(const kafka_consumer *c);

#endif
