/* loadgen: drives the aggregator over HTTP and SSE (closed loop, open loop, stream density) and writes JSON. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "density.h"
#include "net.h"

static void usage(FILE *f) {
    fputs("usage: loadgen --gateways URL[,URL...] [options]\n"
          "  --mode closed|open|density   closed loop (default), open loop at --rate, or idle-stream density\n"
          "  --strategy sse|wfe           SSE sessions (POST + stream) or WAIT_FOR_EVERYONE (default sse)\n"
          "  --concurrency N              closed loop: sessions in flight (default 64)\n"
          "  --rate R                     open loop: session starts per second (default 500)\n"
          "  --duration S --warmup S      measurement window and warm-up before it (default 20, 5)\n"
          "  --delays LIST                resource delays of every session (default 0,0,0)\n"
          "  --timeout-ms N               timeoutMs of every session (default 10000)\n"
          "  --resources N                respondents expected per session (default 3)\n"
          "  --stream-offset N            open the stream on gateway (post gateway + N) mod count (default 0)\n"
          "  --src-addrs N                bind connections round-robin to 127.0.0.1 .. 127.0.0.N (default 0: no bind)\n"
          "  --pids NAME=PID,...          processes whose CPU and RSS are reported (gateway-0=... needed by density)\n"
          "  --session-timeout S          give up on a session after S seconds (default 30)\n"
          "  --max-active N               open loop: refuse starts above N sessions in flight (default 15000)\n"
          "  --post-pool N                idle keep-alive POST connections kept per gateway (default 64)\n"
          "  --name NAME --out FILE       profile name and JSON output (default stdout)\n"
          "density: --streams K (50000; 0: the flow alone, the baseline) --density-sessions S (64) --density-delays LIST (600000,600000,600000)\n"
          "         --density-timeout-ms N (600000) --idle S (16) --flow S (10) --flow-rate R (200)\n"
          "         --open-batch N (512) --open-timeout S (180)\n",
          f);
}

/* Raises the open-file limit as far as allowed; returns the soft limit. */
static long raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return -1;
    struct rlimit want = {1048576, 1048576};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) return 1048576;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

static long max_delay(const char *delays) {
    long m = 0;
    const char *p = delays;
    while (*p) {
        long v = strtol(p, (char **)&p, 10);
        if (v > m) m = v;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return m;
}

static int parse_gateways(bench_cfg *c, const char *list) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (c->ngw == BENCH_MAX_GW || net_parse_url(t, &c->gw[c->ngw])) return -1;
        c->ngw++;
    }
    return c->ngw ? 0 : -1;
}

static void summary_line(const char *name, const sess_stats *st, int wfe) {
    fprintf(stderr,
            "loadgen %s: %.0f sessions/s, ok %llu, failed %llu; overhead p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms; "
            "post p99 %.2f ms%s",
            name, st->window_s > 0 ? st->window_ok / st->window_s : 0, (unsigned long long)st->ok,
            (unsigned long long)st->failed, hdr_percentile(&st->overhead, 50) / 1e3,
            hdr_percentile(&st->overhead, 99) / 1e3, hdr_percentile(&st->overhead, 99.9) / 1e3,
            st->overhead.max / 1e3, hdr_percentile(&st->post, 99) / 1e3, wfe ? "\n" : "");
    if (!wfe) fprintf(stderr, "; first event p99 %.2f ms\n", hdr_percentile(&st->first, 99) / 1e3);
}

int main(int argc, char **argv) {
    static bench_cfg cfg;
    density_opts d = {.streams = 50000, .sessions = 64, .timeout_ms = 600000, .idle_s = 16, .flow_s = 10,
                      .flow_rate = 200, .open_batch = 512, .open_timeout_s = 180};
    strcpy(d.delays, "600000,600000,600000");
    strcpy(cfg.delays, "0,0,0");
    cfg.resources = 3;
    cfg.timeout_ms = 10000;
    cfg.session_timeout_s = 30;
    cfg.max_active = 15000;
    cfg.post_pool = 64;
    const char *mode = "closed", *name = "loadgen", *out_path = NULL, *pids = NULL, *gws = NULL;
    int concurrency = 64, nsrc = 0;
    double rate = 500, duration = 20, warmup = 5;
    enum {
        O_GW = 256, O_MODE, O_STRAT, O_CONC, O_RATE, O_DUR, O_WARM, O_DELAYS, O_TMO, O_RES, O_SOFF, O_SRC, O_PIDS,
        O_STMO, O_MAXA, O_NAME, O_OUT, O_K, O_DS, O_DD, O_DT, O_IDLE, O_FLOW, O_FRATE, O_BATCH, O_OTMO, O_POOL, O_HELP
    };
    static const struct option opts[] = {
        {"gateways", 1, 0, O_GW}, {"mode", 1, 0, O_MODE}, {"strategy", 1, 0, O_STRAT},
        {"concurrency", 1, 0, O_CONC}, {"rate", 1, 0, O_RATE}, {"duration", 1, 0, O_DUR},
        {"warmup", 1, 0, O_WARM}, {"delays", 1, 0, O_DELAYS}, {"timeout-ms", 1, 0, O_TMO},
        {"resources", 1, 0, O_RES}, {"stream-offset", 1, 0, O_SOFF}, {"src-addrs", 1, 0, O_SRC},
        {"pids", 1, 0, O_PIDS}, {"session-timeout", 1, 0, O_STMO}, {"max-active", 1, 0, O_MAXA},
        {"name", 1, 0, O_NAME}, {"out", 1, 0, O_OUT}, {"streams", 1, 0, O_K},
        {"density-sessions", 1, 0, O_DS}, {"density-delays", 1, 0, O_DD}, {"density-timeout-ms", 1, 0, O_DT},
        {"idle", 1, 0, O_IDLE}, {"flow", 1, 0, O_FLOW}, {"flow-rate", 1, 0, O_FRATE},
        {"open-batch", 1, 0, O_BATCH}, {"open-timeout", 1, 0, O_OTMO}, {"post-pool", 1, 0, O_POOL}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_GW: gws = optarg; break;
        case O_MODE: mode = optarg; break;
        case O_STRAT: cfg.wfe = !strcmp(optarg, "wfe"); break;
        case O_CONC: concurrency = atoi(optarg); break;
        case O_RATE: rate = atof(optarg); break;
        case O_DUR: duration = atof(optarg); break;
        case O_WARM: warmup = atof(optarg); break;
        case O_DELAYS: snprintf(cfg.delays, sizeof cfg.delays, "%s", optarg); break;
        case O_TMO: cfg.timeout_ms = atol(optarg); break;
        case O_RES: cfg.resources = atoi(optarg); break;
        case O_SOFF: cfg.stream_offset = atoi(optarg); break;
        case O_SRC: nsrc = atoi(optarg); break;
        case O_PIDS: pids = optarg; break;
        case O_STMO: cfg.session_timeout_s = atof(optarg); break;
        case O_MAXA: cfg.max_active = atol(optarg); break;
        case O_NAME: name = optarg; break;
        case O_OUT: out_path = optarg; break;
        case O_K: d.streams = atol(optarg); break;
        case O_DS: d.sessions = atol(optarg); break;
        case O_DD: snprintf(d.delays, sizeof d.delays, "%s", optarg); break;
        case O_DT: d.timeout_ms = atol(optarg); break;
        case O_IDLE: d.idle_s = atof(optarg); break;
        case O_FLOW: d.flow_s = atof(optarg); break;
        case O_FRATE: d.flow_rate = atof(optarg); break;
        case O_BATCH: d.open_batch = atol(optarg); break;
        case O_OTMO: d.open_timeout_s = atof(optarg); break;
        case O_POOL: cfg.post_pool = atol(optarg); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int density = !strcmp(mode, "density"), open_loop = !strcmp(mode, "open");
    if (!gws || parse_gateways(&cfg, gws) || (!density && !open_loop && strcmp(mode, "closed")) ||
        concurrency < 1 || rate <= 0 || duration <= 0 || warmup < 0 || nsrc < 0 || nsrc > BENCH_MAX_SRC ||
        d.streams < 0 || cfg.post_pool < 0 || d.sessions < 1 || d.open_batch < 1 || (cfg.max_delay_ms = max_delay(cfg.delays)) < 0 ||
        procstat_parse(&cfg.procs, pids)) {
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < nsrc; i++) {
        cfg.src[i].sin_family = AF_INET;
        cfg.src[i].sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)i);
    }
    cfg.nsrc = nsrc;
    signal(SIGPIPE, SIG_IGN);
    long nofile = raise_nofile();
    if (density && d.streams + 64 > nofile) {
        fprintf(stderr, "loadgen: RLIMIT_NOFILE is %ld: %ld streams do not fit\n", nofile, d.streams);
        return 2;
    }
    if (net_init()) {
        perror("loadgen: epoll");
        return 1;
    }
    FILE *out = stdout;
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "loadgen: %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    int rc;
    if (density) {
        rc = density_run(&cfg, &d, out);
    } else {
        sess_setup(&cfg);
        sess_plan p = {.open_loop = open_loop, .rate = rate, .concurrency = concurrency, .warmup_s = warmup,
                       .duration_s = duration, .sample_procs = 1};
        static sess_stats st;
        sess_stats_init(&st);
        rc = sess_run(&p, &st);
        sess_close_pool();
        fprintf(out, "{\"name\":\"%s\",\"mode\":\"%s\",\"strategy\":\"%s\",\"gateways\":%d,\"concurrency\":%d,"
                     "\"rate\":%.1f,\"warmup_s\":%.1f,\"delays\":\"%s\",\"stats\":",
                name, mode, cfg.wfe ? "WAIT_FOR_EVERYONE" : "SSE", cfg.ngw, open_loop ? 0 : concurrency,
                open_loop ? rate : 0, warmup, cfg.delays);
        sess_stats_json(&st, cfg.wfe, out);
        fputs(",\"procs\":", out);
        procstat_json(&cfg.procs, out);
        fputs("}\n", out);
        summary_line(name, &st, cfg.wfe);
    }
    if (out != stdout) fclose(out);
    return rc ? 1 : 0;
}
