/* bench: the load generator's configuration and the session engine shared by its modes. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>

#include "hdr.h"
#include "procstat.h"

#define BENCH_MAX_GW 16
#define BENCH_MAX_SRC 64

typedef struct bench_cfg {
    int ngw;
    struct sockaddr_in gw[BENCH_MAX_GW];
    int nsrc;                       /* 0: no explicit source address */
    struct sockaddr_in src[BENCH_MAX_SRC];
    int wfe;                        /* WAIT_FOR_EVERYONE instead of SSE */
    char delays[128];               /* "0,0,0" */
    long max_delay_ms;              /* the slowest resource's delay */
    int resources;                  /* respondents expected per session */
    long timeout_ms;                /* timeoutMs of each request */
    int stream_offset;              /* stream on gateway (post gateway + offset) % ngw */
    double session_timeout_s;       /* client gives up on a session after this */
    long max_active;                /* open loop: sessions in flight before starts are refused */
    long post_pool;                 /* idle keep-alive POST connections kept per gateway */
    procstat_set procs;
} bench_cfg;

enum {
    E_POST_CONN, E_POST_STATUS, E_POST_PARSE, E_STREAM_CONN, E_STREAM_STATUS, E_STREAM_EOF,
    E_ORDER, E_VALIDATION, E_TIMEOUT_POST, E_TIMEOUT, E_OVERLOAD, E_COUNT
};
extern const char *const bench_err_names[E_COUNT];

typedef struct sess_stats {
    hdr post, first, summary, overhead;
    uint64_t started, ok, failed, recorded_ok, recorded_failed;
    uint64_t window_ok;             /* sessions completed inside the measurement window */
    uint64_t errors[E_COUNT];
    uint64_t post_status[6];        /* POST answers by class: 1xx..5xx (index 1..5) */
    uint64_t events, post_conns, stream_conns;
    uint64_t server_closed, linger_expired;   /* after the summary: response ended or closed by the server / neither within 2 s */
    uint64_t timeout_summaries;     /* summaries with completedBy TIMEOUT */
    double window_s;                /* length of the measurement window */
    int64_t first_error_status;
    char stuck_cid[48];             /* the first session given up on with its stream open */
    long long stuck_last_id;        /* the last event id it received */     /* the first unexpected POST status, for the report */
} sess_stats;

typedef struct sess_plan {
    int open_loop;                  /* 1: rate, 0: closed loop with concurrency */
    double rate;
    int concurrency;
    double warmup_s, duration_s;
    long total;                     /* > 0: stop after this many starts (density set-up) */
    int post_only;                  /* do not open streams; hand each correlationId to on_cid */
    void (*on_cid)(const char *cid, void *ud);
    void *ud;
    int sample_procs;               /* take the procstat window over the measurement window */
} sess_plan;

/* Prepares the engine (net_init must have been called). */
void sess_setup(const bench_cfg *cfg);
/* Runs one plan to completion (every session done or given up). Returns 0,
 * or -1 when the loop failed. */
int sess_run(const sess_plan *plan, sess_stats *st);
/* Closes pooled keep-alive connections. */
void sess_close_pool(void);
void sess_stats_init(sess_stats *st);
/* Writes the stats as a JSON object. */
void sess_stats_json(const sess_stats *st, int wfe, FILE *f);

#endif
