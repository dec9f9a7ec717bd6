/* density: K idle SSE streams on one gateway; its RSS per stream and its CPU idle and while events flow. */
#ifndef BENCH_DENSITY_H
#define BENCH_DENSITY_H

#include <stdio.h>

#include "bench.h"

typedef struct density_opts {
    long streams;           /* K */
    long sessions;          /* long-lived sessions the streams share */
    char delays[128];       /* their delays, e.g. "600000,600000,600000" */
    long timeout_ms;        /* their timeoutMs (the gateway caps it at AGGREGATOR_TIMEOUT_MAX_MS) */
    double idle_s;          /* idle CPU window */
    double flow_s;          /* window with an open-loop load next to the idle streams */
    double flow_rate;
    long open_batch;        /* streams being opened at once */
    double open_timeout_s;
} density_opts;

/* Runs the density measurement against cfg->gw[0] and writes its JSON object
 * (one line) to out. cfg->procs must name the gateway ("gateway-0=PID").
 * Returns 0, or -1 when it could not run. */
int density_run(bench_cfg *cfg, const density_opts *o, FILE *out);

#endif
