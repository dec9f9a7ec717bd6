/* produce: the gateway's Kafka publishing: an immediate producer at low load, batching above. */
#include "produce.h"

#include <stdlib.h>

#include "alloc.h"
#include "ratesel.h"

struct gw_producer {
    loop *l;
    kafka_producer *now;   /* linger 0; NULL when batch_above_per_s is 0 */
    kafka_producer *batch; /* linger batch_linger_ms */
    ratesel sel;
    long guard_ms; /* KAFKA_PRODUCE_TIMEOUT_MS; 0: no guard */
};

/* One message in flight: its caller's callback, and the timer that answers for Kafka when
 * the delivery report is late. librdkafka's message.timeout.ms does not bound it: a message
 * whose request was in flight when the broker went away is retried (idempotence keeps it
 * "possibly persisted") and reported only once a broker is back (measured: 14 s after a broker
 * restart began, for a 5 s timeout). Freed with the delivery report, which always comes (at the
 * latest when the producer is freed: it purges what is left). */
typedef struct guarded {
    gw_producer *p;
    kafka_delivery_cb *done; /* NULL once called */
    void *arg;
    loop_timer *timer; /* NULL once fired or cancelled */
} guarded;

static void on_guard(loop *l, void *arg) {
    (void)l;
    guarded *g = arg;
    g->timer = NULL;
    kafka_delivery_cb *done = g->done;
    g->done = NULL;
    done(0, "not acknowledged within KAFKA_PRODUCE_TIMEOUT_MS", (double)g->p->guard_ms / 1000.0,
         g->arg);
}

static void on_guarded_delivery(int ok, const char *errstr, double seconds, void *arg) {
    guarded *g = arg;
    if (g->timer) loop_timer_cancel(g->p->l, g->timer);
    g->timer = NULL;
    if (g->done) {
        kafka_delivery_cb *done = g->done;
        g->done = NULL;
        done(ok, errstr, seconds, g->arg);
    }
    agg_free(g);
}

gw_producer *gw_producer_new(loop *l, const kafka_config *c, long batch_linger_ms,
                             long batch_above_per_s, err_t *e) {
    gw_producer *p = agg_calloc(1, sizeof *p);
    if (!p) {
        err_nomem(e);
        return NULL;
    }
    p->l = l;
    p->guard_ms = c->message_timeout_ms > 0 ? c->message_timeout_ms : 0;
    ratesel_init(&p->sel, batch_above_per_s);
    kafka_config bc = *c;
    bc.linger_ms = batch_linger_ms;
    if (!(p->batch = kafka_producer_new(l, &bc, e))) {
        agg_free(p);
        return NULL;
    }
    if (batch_above_per_s > 0) {
        kafka_config nc = *c;
        nc.linger_ms = 0;
        if (!(p->now = kafka_producer_new(l, &nc, e))) {
            kafka_producer_free(p->batch, 0);
            agg_free(p);
            return NULL;
        }
    }
    return p;
}

int gw_produce(gw_producer *p, const char *topic, const char *key, size_t key_len,
               const char *value, size_t value_len, const char *traceparent, const char *capability,
               kafka_delivery_cb *done, void *arg, err_t *e) {
    kafka_header h[2];
    size_t nh = 0;
    if (traceparent) h[nh++] = (kafka_header){"traceparent", traceparent};
    if (capability) h[nh++] = (kafka_header){"capability", capability};
    kafka_producer *k = p->batch;
    if (p->now && !ratesel_pick(&p->sel, loop_now_ms())) k = p->now;
    if (p->guard_ms <= 0)
        return kafka_produce_headers(k, topic, key, key_len, value, value_len, h, nh, done, arg, e);
    guarded *g = agg_calloc(1, sizeof *g);
    if (!g) return err_nomem(e);
    g->p = p;
    g->done = done;
    g->arg = arg;
    if (!(g->timer = loop_timer_add(p->l, p->guard_ms, on_guard, g))) {
        agg_free(g);
        return err_nomem(e);
    }
    if (kafka_produce_headers(k, topic, key, key_len, value, value_len, h, nh, on_guarded_delivery,
                              g, e) != AGG_OK) {
        loop_timer_cancel(p->l, g->timer);
        agg_free(g);
        return AGG_ERR;
    }
    return AGG_OK;
}

size_t gw_producer_queued(const gw_producer *p) {
    return kafka_producer_queued(p->batch) + (p->now ? kafka_producer_queued(p->now) : 0);
}

int gw_producer_healthy(const gw_producer *p) {
    return kafka_producer_healthy(p->batch) && (!p->now || kafka_producer_healthy(p->now));
}

void gw_producer_free(gw_producer *p, int flush_ms) {
    if (!p) return;
    /* Each gets half: together they stay within flush_ms. */
    if (p->now) kafka_producer_free(p->now, flush_ms / 2);
    kafka_producer_free(p->batch, p->now ? flush_ms / 2 : flush_ms);
    agg_free(p);
}
