/* ratesel: chooses between an immediate and a batching producer from the recent message rate. */
#ifndef AGG_RATESEL_H
#define AGG_RATESEL_H

/* Why two producers: librdkafka's linger.ms is fixed per producer. Measured
 * on 2 cores (open loop, docs/configuration.md): any non-zero linger, even
 * 0.5 ms, adds about 1.5 ms per hop, so at 500 sessions/s linger 0 halves
 * the median overhead (1.9 vs 5.1 ms); at 1,500 sessions/s linger 0 makes one
 * Kafka request per message and the p99 rises to 63 ms where batching with
 * 2 ms gives 21 ms. So messages go out at once while the rate is low and are
 * batched while it is high. */

#define RATESEL_BUCKET_MS 50

typedef struct ratesel {
    long long above_per_s; /* batch from this rate up; 0: always batch */
    long long bucket_start_ms;
    long long bucket_count; /* messages in the current bucket */
    long long last_rate;    /* per second, from the last full bucket */
    int batching;
} ratesel;

/* Starts a selector: batch from above_per_s messages/s up, back to
 * immediate below half of it (hysteresis, so it does not flap). */
void ratesel_init(ratesel *s, long long above_per_s);

/* Counts one message at now_ms (a monotonic clock) and returns 1 when it
 * should go to the batching producer, 0 for the immediate one. */
int ratesel_pick(ratesel *s, long long now_ms);

#endif
