/* produce: the gateway's Kafka publishing: an immediate producer at low load, batching above. */
#ifndef GW_PRODUCE_H
#define GW_PRODUCE_H

#include <stddef.h>

#include "err.h"
#include "kafka.h"
#include "loop.h"

typedef struct gw_producer gw_producer;

/* Two idempotent producers on loop l: linger 0, and linger batch_linger_ms
 * used while the gateway publishes batch_above_per_s messages/s or more
 * (ratesel.h says why). batch_above_per_s 0: only the batching producer is
 * created. c->linger_ms is ignored. NULL with e filled on failure. */
gw_producer *gw_producer_new(loop *l, const kafka_config *c, long batch_linger_ms,
                             long batch_above_per_s, err_t *e);

/* As kafka_produce(), on the producer the current rate picks, with the header traceparent
 * when traceparent is not NULL and the header capability when capability is not NULL (a
 * callback's, for the worker to check again). Messages of
 * one key may go through either producer: nothing here relies on the order
 * of two messages (each answer is recorded on its own, and a fan-out message and
 * its answers are on different topics). done is called once, from the loop: with
 * the delivery report, or with ok 0 when none came within c->message_timeout_ms
 * (KAFKA_PRODUCE_TIMEOUT_MS) of this call; the message may still be written later. */
int gw_produce(gw_producer *p, const char *topic, const char *key, size_t key_len,
               const char *value, size_t value_len, const char *traceparent,
               const char *capability, kafka_delivery_cb *done, void *arg, err_t *e);

/* Messages of both producers not yet acknowledged by the broker. */
size_t gw_producer_queued(const gw_producer *p);

/* 1 when every producer has a broker connection. */
int gw_producer_healthy(const gw_producer *p);

/* Flushes both for up to flush_ms in all, then frees. */
void gw_producer_free(gw_producer *p, int flush_ms);

#endif
