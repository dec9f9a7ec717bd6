/* mbuckets: the histogram bucket bounds the programs share (one list per kind of duration). */
#ifndef AGG_MBUCKETS_H
#define AGG_MBUCKETS_H

#include <stddef.h>

/* Round trips to Kafka and Redis and message delays (seconds): 0.5 ms to 10 s. */
extern const double mbuckets_fast[];
extern const size_t mbuckets_fast_n;
/* Requests, resource calls and sessions (seconds): the http_server_requests bounds, 5 ms to
 * 60 s, so that one latency reads the same on every panel. */
extern const double mbuckets_request[];
extern const size_t mbuckets_request_n;

#endif
