/* density: K idle SSE streams on one gateway; its RSS per stream and its CPU idle and while events flow. */
#include "density.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "net.h"

typedef struct dstream {
    net_conn *c;
    http_resp r;
    int open;
} dstream;

static long n_open, n_opening, n_failed, n_dropped, fail_status, fail_errno;
static unsigned long long body_bytes;

static void ds_body(void *ud, const char *p, size_t n) {
    (void)ud, (void)p;
    body_bytes += n;
}

static void ds_data(net_conn *c, const char *buf, size_t n) {
    dstream *d = c->ud;
    size_t used;
    int r = http_resp_feed(&d->r, buf, n, &used, ds_body, d);
    if (!d->open && d->r.headers_done) {
        n_opening--;
        if (d->r.status == 200) {
            d->open = 1;
            n_open++;
        } else {
            if (!fail_status) fail_status = d->r.status;
            n_failed++;
            net_close(c, 1);
            d->c = NULL;
            return;
        }
    }
    if (r != HTTP_MORE) {   /* the stream ended (a summary, or an error) */
        if (d->open) {
            n_open--;
            n_dropped++;
        } else {
            n_opening--;
            n_failed++;
        }
        net_close(c, 1);
        d->c = NULL;
        d->open = 0;
    }
}

static void ds_closed(net_conn *c, int err) {
    dstream *d = c->ud;
    d->c = NULL;
    if (d->open) {
        n_open--;
        n_dropped++;
    } else {
        n_opening--;
        n_failed++;
        if (err && !fail_errno) fail_errno = err;
    }
    d->open = 0;
}

static const net_ops ds_ops = {ds_data, ds_closed};

typedef struct cid_list {
    char (*ids)[48];
    long n, cap;
} cid_list;

static void add_cid(const char *cid, void *ud) {
    cid_list *l = ud;
    if (l->n < l->cap) {
        strncpy(l->ids[l->n], cid, 47);
        l->ids[l->n][47] = 0;
        l->n++;
    }
}

/* sse_active_connections from the gateway's Prometheus page, or -1. */
static long active_gauge(const struct sockaddr_in *gw) {
    static char page[65536];
    if (net_get(gw, "/actuator/prometheus", page, sizeof page, 2000) != 200) return -1;
    const char *p = page;
    while ((p = strstr(p, "sse_active_connections"))) {
        if (p == page || p[-1] == '\n') {
            const char *eol = strchr(p, '\n');
            if (!eol) eol = p + strlen(p);
            const char *sp = eol;
            while (sp > p && sp[-1] != ' ') sp--;
            return strtol(sp, NULL, 10);
        }
        p++;
    }
    return -1;
}

/* Runs the loop for ns nanoseconds. */
static void run_for(int64_t ns) {
    int64_t end = net_now() + ns;
    for (int64_t now = net_now(); now < end; now = net_now()) net_run_once(end - now);
}

/* RSS of pid once two samples 300 ms apart differ by under 0.5 % (at most 5 s). */
static long stable_rss(int pid) {
    long prev = procstat_rss_kib(pid);
    int64_t end = net_now() + 5000000000LL;
    while (net_now() < end) {
        run_for(300000000LL);
        long r = procstat_rss_kib(pid);
        if (labs(r - prev) * 200 <= prev) return r;
        prev = r;
    }
    return prev;
}

static procstat_proc *find_proc(procstat_set *s, const char *prefix) {
    for (int i = 0; i < s->n; i++)
        if (!strncmp(s->p[i].name, prefix, strlen(prefix))) return &s->p[i];
    return NULL;
}

int density_run(bench_cfg *cfg, const density_opts *o, FILE *out) {
    procstat_proc *gwp = find_proc(&cfg->procs, "gateway");
    if (!gwp) {
        fprintf(stderr, "loadgen: density needs --pids with the gateway's pid (gateway-0=PID)\n");
        return -1;
    }
    int gpid = gwp->pid;
    long gauge0 = active_gauge(&cfg->gw[0]);
    long rss0 = stable_rss(gpid);

    /* 1. long-lived sessions */
    bench_cfg dc = *cfg;
    snprintf(dc.delays, sizeof dc.delays, "%s", o->delays);
    dc.timeout_ms = o->timeout_ms;
    dc.wfe = 0;
    dc.ngw = 1;
    sess_setup(&dc);
    cid_list cids = {calloc((size_t)o->sessions, 48), 0, o->sessions};
    if (!cids.ids) return -1;
    sess_plan sp = {.open_loop = 0, .concurrency = 8, .duration_s = 1e6, .total = o->sessions,
                    .post_only = 1, .on_cid = add_cid, .ud = &cids};
    sess_stats setup;
    sess_stats_init(&setup);
    if (sess_run(&sp, &setup) || cids.n == 0) {
        fprintf(stderr, "loadgen: density: could not create sessions (%llu failed, first status %lld)\n",
                (unsigned long long)setup.failed, (long long)setup.first_error_status);
        free(cids.ids);
        return -1;
    }

    /* 2. K streams, at most open_batch being opened at a time */
    dstream *ds = calloc((size_t)o->streams + 1, sizeof *ds); /* K = 0: the baseline */
    if (!ds) {
        free(cids.ids);
        return -1;
    }
    int64_t t_open0 = net_now(), open_deadline = t_open0 + (int64_t)(o->open_timeout_s * 1e9);
    long next = 0;
    unsigned long src_rr = 0;
    char req[512];
    while ((next < o->streams || n_opening > 0) && net_now() < open_deadline) {
        while (next < o->streams && n_opening < o->open_batch) {
            dstream *d = &ds[next];
            http_resp_init(&d->r);
            const struct sockaddr_in *src = cfg->nsrc ? &cfg->src[src_rr++ % (unsigned long)cfg->nsrc] : NULL;
            d->c = net_connect(&cfg->gw[0], src, &ds_ops, d);
            next++;
            if (!d->c) {
                n_failed++;
                if (!fail_errno) fail_errno = errno;
                continue;
            }
            n_opening++;
            int rl = snprintf(req, sizeof req,
                              "GET /aggregate/stream?correlationId=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              "Accept: text/event-stream\r\n\r\n",
                              cids.ids[(next - 1) % cids.n], ntohs(cfg->gw[0].sin_port));
            if (net_send(d->c, req, (size_t)rl)) {
                d->c = NULL;
                n_opening--;
                n_failed++;
            }
        }
        net_run_once(50000000LL);
    }
    double open_s = (double)(net_now() - t_open0) / 1e9;
    long opened = n_open;

    /* 3. the gateway agrees, and its memory settles */
    long gauge1 = -1;
    int64_t gdl = net_now() + 10000000000LL;
    while (net_now() < gdl) {
        gauge1 = active_gauge(&cfg->gw[0]);
        if (gauge1 < 0 || gauge1 - (gauge0 > 0 ? gauge0 : 0) >= opened) break;
        run_for(100000000LL);
    }
    long rss1 = stable_rss(gpid);

    /* 4. idle window */
    unsigned long long bytes0 = body_bytes;
    procstat_set idle = cfg->procs;
    procstat_begin(&idle, net_now());
    run_for((int64_t)(o->idle_s * 1e9));
    procstat_end(&idle, net_now());
    unsigned long long idle_bytes = body_bytes - bytes0;
    procstat_proc *gi = find_proc(&idle, "gateway");

    /* 5. events flowing: an open-loop SSE load next to the idle streams */
    sess_setup(cfg);
    sess_plan fp = {.open_loop = 1, .rate = o->flow_rate, .warmup_s = 1.0, .duration_s = o->flow_s,
                    .sample_procs = 1};
    sess_stats flow;
    sess_stats_init(&flow);
    int frc = sess_run(&fp, &flow);
    long rss2 = procstat_rss_kib(gpid);
    long still_open = n_open;

    fprintf(out, "{\"mode\":\"density\",\"streams_requested\":%ld,\"streams_open\":%ld,\"streams_failed\":%ld,"
                 "\"first_failure_status\":%ld,\"first_failure_errno\":\"%s\",\"sessions\":%ld,"
                 "\"sessions_failed\":%llu,\"sessions_first_error_status\":%lld,"
                 "\"open_s\":%.3f,\"open_per_s\":%.0f,\"sse_active_connections_before\":%ld,"
                 "\"sse_active_connections\":%ld,\"gateway_rss_mib_before\":%.2f,\"gateway_rss_mib_after\":%.2f,"
                 "\"gateway_rss_bytes_per_stream\":%.0f,\"gateway_rss_bytes_per_stream_after_idle\":%.0f,"
                 "\"gateway_rss_mib_after_flow\":%.2f,"
                 "\"idle\":{\"window_s\":%.1f,\"keepalive_bytes\":%llu,\"procs\":",
            o->streams, opened, n_failed, fail_status, fail_errno ? strerror((int)fail_errno) : "",
            cids.n, (unsigned long long)setup.failed, (long long)setup.first_error_status, open_s, open_s > 0 ? opened / open_s : 0, gauge0, gauge1, rss0 / 1024.0, rss1 / 1024.0,
            opened ? (rss1 - rss0) * 1024.0 / opened : 0,
            opened && gi ? (gi->rss_kib_end - rss0) * 1024.0 / opened : 0, rss2 / 1024.0, o->idle_s, idle_bytes);
    procstat_json(&idle, out);
    fprintf(out, "},\"flow\":{\"rate\":%.0f,\"streams_still_open\":%ld,\"streams_dropped\":%ld,\"stats\":",
            o->flow_rate, still_open, n_dropped);
    sess_stats_json(&flow, 0, out);
    fputs(",\"procs\":", out);
    procstat_json(&cfg->procs, out);
    fputs("}}\n", out);

    /* 6. hang up */
    for (long i = 0; i < o->streams; i++)
        if (ds[i].c) net_close(ds[i].c, 1);
    net_run_once(0);
    sess_close_pool();
    free(ds);
    free(cids.ids);
    return frc;
}
