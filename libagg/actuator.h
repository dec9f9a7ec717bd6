/* actuator: the actuator routes every program shares (Prometheus, metrics, info, configprops) and the process and build metrics behind them. */
#ifndef AGG_ACTUATOR_H
#define AGG_ACTUATOR_H

#include "err.h"
#include "httpd.h"
#include "metrics.h"

typedef struct actuator actuator;

typedef struct actuator_options {
    const char *component; /* "gateway", "worker", "resource-sim": build_info and /actuator/info */
    metrics *m;            /* the program's registry, borrowed; outlives the actuator */
    /* Called before /actuator/prometheus and /actuator/metrics/{name} render, for gauges
     * sampled at scrape time (NULL = none). */
    void (*before_render)(void *arg);
    /* 1 when the program's readiness probe would answer UP: the aggregator_ready gauge. */
    int (*ready)(void *arg);
    void *arg;
} actuator_options;

/* Registers process_*, build_info and aggregator_ready in o->m (build_info set to 1 at once).
 * NULL with e filled on out of memory or when they are registered already. Caller frees with
 * actuator_free (the families stay in the registry). */
actuator *actuator_new(const actuator_options *o, err_t *e);
/* Frees a (NULL is a no-op); its families stay in the registry, which the program frees. */
void actuator_free(actuator *a);

/* Answers r when its path is one of the shared routes: GET /actuator/prometheus (text format
 * 0.0.4), /actuator/metrics, /actuator/metrics/{name}[?tag=k:v...] (404 for an unknown name or
 * tag, 400 for a malformed tag), /actuator/info, /actuator/configprops; another method gets 405.
 * Sets the route template of what it answers. Returns 1 when it answered (r is then invalid), 0
 * when the path is none of its routes (r untouched). Out of memory answers 503. */
int actuator_handle(actuator *a, httpd_req *r);

/* Refreshes the process gauges and aggregator_ready and runs before_render: what
 * actuator_handle does before rendering, for a program or test that renders itself. */
void actuator_refresh(actuator *a);

#endif
