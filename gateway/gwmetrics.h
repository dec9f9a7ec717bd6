/* gwmetrics: the gateway's metric families in the registry, and the series its modules count into. */
#ifndef GW_GWMETRICS_H
#define GW_GWMETRICS_H

#include "err.h"
#include "jwtauth.h"
#include "metrics.h"
#include "rdsmeter.h"

/* Strategies, indexes of sessions_started. */
enum { GW_STRATEGY_SSE = 0, GW_STRATEGY_WAIT = 1 };
/* gateway_auth_failures_total's reasons: the token refusals (jwtauth_reason, from
 * JWTAUTH_MISSING) and, last, 403 forbidden (another principal's session, no admin role). */
#define GW_AUTH_FORBIDDEN JWTAUTH_REASONS
/* Topics, indexes of produce. */
enum { GW_TOPIC_REQUESTS = 0, GW_TOPIC_CALLBACKS = 1 };

/* Every series is resolved once, by gwmetrics_init: the modules count with metrics_inc on these
 * pointers (no lookup, no allocation). The gauges are set by gwmetrics_sample at scrape time. */
typedef struct gw_metrics {
    metrics *reg; /* owned: the gateway's registry */
    /* gateway_sessions_started_total and aggregator_sessions_started_total, by strategy:
     * count them with gwmetrics_session_started */
    metrics_series *sessions_started[2], *agg_sessions_started[2];
    metrics_series *answers_accepted; /* gateway_callbacks_accepted_total */
    metrics_series *bad_requests;
    metrics_series *produce_failures;
    metrics_series *redis_failures;
    metrics_series *wait_timeouts;
    metrics_series *streams_opened;
    metrics_series *stream_events_sent, *sse_events_sent; /* gwmetrics_event_sent */
    metrics_series *stream_replays;
    metrics_series *streams_aborted; /* ended with an "aborted" event */
    metrics_series *sessions_lost;   /* streams and waits whose session Redis lost */
    metrics_series *stream_overflows;
    metrics_series *sessions_shed;       /* POSTs refused with 503 overloaded */
    metrics_series *rate_limited;        /* sessions and streams refused with 429 */
    metrics_series *shutdown_refused;    /* sessions and streams refused while draining */
    metrics_series *streams_handed_over; /* streams closed with a retry hint while draining */
    /* gateway_auth_failures_total by reason (index 0, JWTAUTH_OK, is NULL) */
    metrics_series *auth_failures[GW_AUTH_FORBIDDEN + 1];
    /* sampled at scrape time */
    metrics_series *sse_active, *listeners, *shutting_down, *reaped;
    /* kafka_produce_seconds by GW_TOPIC_*: observe with gwmetrics_produced */
    metrics_series *produce[2];
    rdsmeter redis; /* redis_command_seconds: the rds client's observer (rdsmeter_observe) */
} gw_metrics;

/* A new registry with every family of the gateway and each of its series at 0; topics[0..1] are
 * the requests and callbacks topic names (the topic label of kafka_produce_seconds), borrowed for
 * the call. AGG_ERR with e filled on out of memory (m is then freed: gwmetrics_free is
 * harmless). */
int gwmetrics_init(gw_metrics *m, const char *const topics[2], err_t *e);
/* Frees the registry; every series pointer becomes invalid (m is zeroed). */
void gwmetrics_free(gw_metrics *m);

/* One session accepted with strategy GW_STRATEGY_*. */
void gwmetrics_session_started(gw_metrics *m, int strategy);
/* One event written to a stream. */
void gwmetrics_event_sent(gw_metrics *m);
/* A delivery report for topic (GW_TOPIC_*) came seconds after the produce call (seconds < 0:
 * unknown, not observed). */
void gwmetrics_produced(gw_metrics *m, int topic, double seconds);
/* The gauges sampled at scrape time: open streams, sessions listened to, draining (0/1), and
 * connections reaped by the HTTP deadlines so far. */
void gwmetrics_sample(gw_metrics *m, size_t streams, size_t listeners, int draining,
                      unsigned long long reaped);

#endif
