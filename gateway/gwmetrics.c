/* gwmetrics: registers the gateway's metric families (Kafka produce and Redis latency included) and resolves every series once. */
#include "gwmetrics.h"

#include <string.h>

#include "mbuckets.h"

static const char *const strategies[2] = {"SSE", "WAIT_FOR_EVERYONE"};

enum {
    F_STARTED, F_AGG_STARTED, F_ACCEPTED, F_BAD, F_PRODUCE, F_REDIS, F_WAIT_TIMEOUTS, F_OPENED,
    F_EVENTS, F_SSE_EVENTS, F_REPLAYS, F_ABORTED, F_LOST, F_OVERFLOWS, F_SHED, F_REFUSED,
    F_HANDED, F_SSE_ACTIVE, F_LISTENERS, F_SHUTTING, F_REAPED, F_KAFKA_PRODUCE, F_RATE_LIMITED,
    F_AUTH, F_N
};

#define C(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_COUNTER}
#define G(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_GAUGE}

static const metrics_family_def defs[F_N] = {
    [F_STARTED] = {.name = "gateway_sessions_started_total",
                   .dotted_name = "gateway.sessions.started",
                   .help = "Aggregations accepted, by strategy.", .type = METRICS_COUNTER,
                   .labels = {"strategy"}},
    [F_AGG_STARTED] = {.name = "aggregator_sessions_started_total",
                       .dotted_name = "aggregator.sessions.started",
                       .help = "Aggregation sessions started, by strategy.",
                       .type = METRICS_COUNTER, .labels = {"strategy"}},
    [F_ACCEPTED] = C("gateway_callbacks_accepted_total", "gateway.callbacks.accepted",
                     "Resource callbacks accepted and handed to Kafka."),
    [F_BAD] = C("gateway_bad_requests_total", "gateway.bad.requests",
                "Requests refused as invalid (400, 413, 415...)."),
    [F_PRODUCE] = C("gateway_kafka_produce_failures_total", "gateway.kafka.produce.failures",
                    "Kafka messages that could not be produced."),
    [F_REDIS] = C("gateway_redis_failures_total", "gateway.redis.failures",
                  "Redis calls that failed."),
    [F_WAIT_TIMEOUTS] = C("gateway_wait_timeouts_total", "gateway.wait.timeouts",
                          "WAIT_FOR_EVERYONE requests answered without a summary in time."),
    [F_OPENED] = C("gateway_streams_opened_total", "gateway.streams.opened",
                   "Server-sent-event streams opened."),
    [F_EVENTS] = C("gateway_stream_events_sent_total", "gateway.stream.events.sent",
                   "Events written to streams."),
    [F_SSE_EVENTS] = C("sse_events_sent_total", "sse.events.sent",
                       "Server-sent events written to streams."),
    [F_REPLAYS] = C("gateway_stream_replays_total", "gateway.stream.replays",
                    "Streams resumed with Last-Event-ID."),
    [F_ABORTED] = C("gateway_streams_aborted_total", "gateway.streams.aborted",
                    "Streams ended with an aborted event (session lost, or the session store "
                    "unreachable past the deadline)."),
    [F_LOST] = C("gateway_sessions_lost_total", "gateway.sessions.lost",
                 "Streams and WAIT_FOR_EVERYONE requests whose session Redis no longer held."),
    [F_OVERFLOWS] = C("gateway_stream_overflows_total", "gateway.stream.overflows",
                      "Streams ended because their client did not take events fast enough."),
    [F_RATE_LIMITED] = C("gateway_rate_limited_total", "gateway.rate.limited",
                         "Sessions and streams refused with 429: their client address was over "
                         "RATE_LIMIT_RPS."),
    [F_AUTH] = {.name = "gateway_auth_failures_total", .dotted_name = "gateway.auth.failures",
                .help = "Requests refused under AUTH_MODE=jwt: 401 by the token's refusal reason, "
                        "403 as forbidden.",
                .type = METRICS_COUNTER, .labels = {"reason"}},
    [F_SHED] = C("gateway_sessions_shed_total", "gateway.sessions.shed",
                 "New sessions refused (503 overloaded) while MAX_PENDING_PUBLISHES were "
                 "waiting for Kafka."),
    [F_REFUSED] = C("gateway_shutdown_refused_total", "gateway.shutdown.refused",
                    "Sessions and streams refused while draining."),
    [F_HANDED] = C("gateway_streams_handed_over_total", "gateway.streams.handed.over",
                   "Streams closed with a retry hint while draining."),
    [F_SSE_ACTIVE] = {.name = "sse_active_connections", .dotted_name = "sse.active.connections",
                      .alias = "sse.active.sinks", .help = "Open server-sent-event streams.",
                      .type = METRICS_GAUGE},
    [F_LISTENERS] = G("gateway_session_listeners", "gateway.session.listeners",
                      "Sessions this gateway listens to for events."),
    [F_SHUTTING] = G("gateway_shutting_down", "gateway.shutting.down",
                     "1 while the gateway drains after SIGTERM."),
    [F_REAPED] = C("gateway_http_connections_reaped_total", "gateway.http.connections.reaped",
                   "Connections closed for passing HTTP_HEADER_TIMEOUT_MS, HTTP_BODY_TIMEOUT_MS "
                   "or HTTP_IDLE_TIMEOUT_MS."),
    [F_KAFKA_PRODUCE] = {.name = "kafka_produce_seconds",
                         .dotted_name = "kafka.produce",
                         .help = "From a produce call to its delivery report (acknowledged or "
                                 "failed), by topic.",
                         .base_unit = "seconds",
                         .type = METRICS_HISTOGRAM,
                         .labels = {"topic"},
                         MBUCKETS_FAST},
};

int gwmetrics_init(gw_metrics *m, const char *const topics[2], err_t *e) {
    memset(m, 0, sizeof *m);
    metrics_family *fs[F_N];
    if (!(m->reg = metrics_new(e))) return AGG_ERR;
    for (int i = 0; i < F_N; i++)
        if (!(fs[i] = metrics_family_add(m->reg, &defs[i], e))) goto fail;
    for (int s = 0; s < 2; s++)
        if (!(m->sessions_started[s] = metrics_series_get(fs[F_STARTED], &strategies[s], 1, e)) ||
            !(m->agg_sessions_started[s] =
                  metrics_series_get(fs[F_AGG_STARTED], &strategies[s], 1, e)))
            goto fail;
    for (int r = JWTAUTH_MISSING; r <= GW_AUTH_FORBIDDEN; r++) {
        const char *reason = r == GW_AUTH_FORBIDDEN ? "forbidden" : jwtauth_reason_name(r);
        if (!(m->auth_failures[r] = metrics_series_get(fs[F_AUTH], &reason, 1, e))) goto fail;
    }
    for (int t = 0; t < 2; t++)
        if (!(m->produce[t] = metrics_series_get(fs[F_KAFKA_PRODUCE], &topics[t], 1, e)))
            goto fail;
    struct {
        metrics_series **s;
        int f;
    } singles[] = {{&m->answers_accepted, F_ACCEPTED},   {&m->bad_requests, F_BAD},
                   {&m->produce_failures, F_PRODUCE},    {&m->redis_failures, F_REDIS},
                   {&m->wait_timeouts, F_WAIT_TIMEOUTS}, {&m->streams_opened, F_OPENED},
                   {&m->stream_events_sent, F_EVENTS},   {&m->sse_events_sent, F_SSE_EVENTS},
                   {&m->stream_replays, F_REPLAYS},      {&m->streams_aborted, F_ABORTED},
                   {&m->sessions_lost, F_LOST},          {&m->stream_overflows, F_OVERFLOWS},
                   {&m->sessions_shed, F_SHED},          {&m->shutdown_refused, F_REFUSED},
                   {&m->streams_handed_over, F_HANDED},  {&m->sse_active, F_SSE_ACTIVE},
                   {&m->listeners, F_LISTENERS},         {&m->shutting_down, F_SHUTTING},
                   {&m->reaped, F_REAPED},               {&m->rate_limited, F_RATE_LIMITED}};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (!(*singles[i].s = metrics_series_get0(fs[singles[i].f], e))) goto fail;
    if (rdsmeter_init(&m->redis, m->reg, e) != AGG_OK) goto fail;
    return AGG_OK;
fail:
    gwmetrics_free(m);
    return AGG_ERR;
}

void gwmetrics_free(gw_metrics *m) {
    metrics_free(m->reg);
    memset(m, 0, sizeof *m);
}

void gwmetrics_session_started(gw_metrics *m, int strategy) {
    metrics_inc(m->sessions_started[strategy], 1);
    metrics_inc(m->agg_sessions_started[strategy], 1);
}

void gwmetrics_event_sent(gw_metrics *m) {
    metrics_inc(m->stream_events_sent, 1);
    metrics_inc(m->sse_events_sent, 1);
}

void gwmetrics_produced(gw_metrics *m, int topic, double seconds) {
    if (seconds >= 0 && (topic == GW_TOPIC_REQUESTS || topic == GW_TOPIC_CALLBACKS))
        metrics_observe(m->produce[topic], seconds);
}

void gwmetrics_sample(gw_metrics *m, size_t streams, size_t listeners, int draining,
                      unsigned long long reaped) {
    metrics_set(m->sse_active, (double)streams);
    metrics_set(m->listeners, (double)listeners);
    metrics_set(m->shutting_down, draining ? 1 : 0);
    /* A counter kept by httpd: taken whole. */
    metrics_set(m->reaped, (double)reaped);
}
