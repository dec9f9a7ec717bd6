/* mbuckets: the histogram bucket bounds the programs share (one list per kind of duration). */
#ifndef AGG_MBUCKETS_H
#define AGG_MBUCKETS_H

/* The counts are macros so that a family definition can be a static const initializer;
 * mbuckets.c checks each against its list at compile time. */

/* Round trips to Kafka and Redis and message delays (seconds): 0.5 ms to 10 s. */
#define MBUCKETS_FAST_N 14
extern const double mbuckets_fast[];
/* Requests, resource calls and sessions (seconds): the http_server_requests bounds, 5 ms to
 * 60 s, so that one latency reads the same on every panel. */
#define MBUCKETS_REQUEST_N 16
extern const double mbuckets_request[];

/* The .buckets and .n_buckets of a metrics_family_def, for a constant initializer. */
#define MBUCKETS_FAST    .buckets = mbuckets_fast, .n_buckets = MBUCKETS_FAST_N
#define MBUCKETS_REQUEST .buckets = mbuckets_request, .n_buckets = MBUCKETS_REQUEST_N

#endif
