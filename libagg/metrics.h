/* metrics: a registry of counters, gauges and histograms with bounded labels, rendered for Prometheus and the actuator (pure). */
#ifndef AGG_METRICS_H
#define AGG_METRICS_H

#include <stddef.h>

#include "err.h"

/* A registry holds families (one metric name, one type, fixed label names); a family holds
 * series (one tuple of label values). The hot path only touches a series through the pointer
 * it got once: metrics_inc / metrics_set / metrics_observe are a few instructions, no lookup,
 * no allocation. Everything runs on one loop thread: no locking.
 *
 * Label values are bounded: a family takes at most max_series tuples; past that,
 * metrics_series_get() fails, so that no input can create series without end. Callers pass label
 * values from fixed sets (statuses, route templates) or from configuration (resource ids). */

typedef enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type;

typedef struct metrics metrics;
typedef struct metrics_family metrics_family;
typedef struct metrics_series metrics_series;

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 24

typedef struct metrics_family_def {
    const char *name;        /* Prometheus name, e.g. "http_server_requests_seconds" */
    const char *dotted_name; /* Micrometer's name for /actuator/metrics, e.g. "http.server.requests" */
    const char *alias;       /* a second dotted name answering the same (NULL = none) */
    const char *help;
    const char *base_unit;   /* "seconds", "bytes", NULL */
    metrics_type type;
    const char *labels[METRICS_MAX_LABELS]; /* label names, NULL-terminated when fewer */
    const double *buckets;   /* histogram: ascending upper bounds, +Inf implied */
    size_t n_buckets;
    size_t max_series;       /* 0 = 64 */
} metrics_family_def;

/* A new, empty registry; NULL with e filled on out of memory. Caller frees with metrics_free. */
metrics *metrics_new(err_t *e);
/* Frees the registry, its families and series (every pointer into it becomes invalid). */
void metrics_free(metrics *m);

/* Adds a family; def and every string in it must outlive the registry (static). Families
 * render in the order added. NULL with e filled on out of memory, a duplicate name, more than
 * METRICS_MAX_BUCKETS buckets or buckets not ascending. */
metrics_family *metrics_family_add(metrics *m, const metrics_family_def *def, err_t *e);
/* The family named name (Prometheus name), or NULL. */
metrics_family *metrics_family_find(const metrics *m, const char *name);

/* The series of f with these label values (one per label name of f, copied), created at 0 on
 * first use. NULL with e filled on out of memory, a wrong number of values, or when f already
 * holds max_series tuples. A caller keeps the pointer: it stays valid until metrics_free. */
metrics_series *metrics_series_get(metrics_family *f, const char *const *values, size_t n, err_t *e);
/* metrics_series_get for a family without labels. */
metrics_series *metrics_series_get0(metrics_family *f, err_t *e);

/* Counter: adds by (>= 0). s may be NULL (a series that could not be made): nothing happens. */
void metrics_inc(metrics_series *s, double by);
/* Gauge: sets the value. s may be NULL. */
void metrics_set(metrics_series *s, double v);
/* Histogram: counts v into its bucket, the sum and the count; keeps the largest v (MAX). s may
 * be NULL. */
void metrics_observe(metrics_series *s, double v);
/* The current value (counter, gauge) or count (histogram); s may be NULL (0). */
double metrics_value(const metrics_series *s);

/* The Prometheus text exposition format 0.0.4 of every family (# HELP, # TYPE, histograms as
 * _bucket{le=..}, _sum and _count; a family without series renders its headers only; label
 * values escaped). malloc'd, caller frees; NULL with e filled on out of memory. */
char *metrics_render_prometheus(const metrics *m, err_t *e);

/* /actuator/metrics: {"names":[dotted names and aliases, sorted]}. malloc'd, caller frees. */
char *metrics_render_names(const metrics *m, err_t *e);
/* /actuator/metrics/{dotted}: Spring's shape, summed over the series matching every tag filter
 * ("key:value" strings; n_tags may be 0): {"name","description","baseUnit","measurements":
 * [{"statistic":"COUNT"|"TOTAL_TIME"|"MAX"|"VALUE","value":n}],"availableTags":[{"tag","values"}]}.
 * Sets *found = 0 (and returns NULL, e untouched) when no family has that dotted name or alias,
 * or when a filter names an unknown tag or matches no series (Spring answers 404 then).
 * malloc'd, caller frees; NULL with e filled on out of memory or a malformed filter. */
char *metrics_render_one(const metrics *m, const char *dotted, const char *const *tags,
                         size_t n_tags, int *found, err_t *e);

#endif
