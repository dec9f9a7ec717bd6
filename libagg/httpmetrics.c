/* httpmetrics: http_server_requests_seconds from httpd's on_done, each (route, method, status) resolved to its series once. */
#include "httpmetrics.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "mbuckets.h"

static const metrics_family_def family_def = {
    .name = "http_server_requests_seconds",
    .dotted_name = "http.server.requests",
    .help = "HTTP requests served, by method, route template, status and outcome.",
    .base_unit = "seconds",
    .type = METRICS_HISTOGRAM,
    .labels = {"method", "uri", "status", "outcome"},
    MBUCKETS_REQUEST,
    .max_series = HTTPMETRICS_MAX_SERIES};

static const char *const methods[] = {"GET",     "HEAD",  "POST",    "PUT",  "DELETE",
                                      "OPTIONS", "PATCH", "CONNECT", "TRACE", "OTHER"};
enum { N_METHODS = sizeof methods / sizeof methods[0] };

static const char NOT_FOUND[] = "NOT_FOUND", UNKNOWN[] = "UNKNOWN";

/* Open addressing, twice the series cap so that probes stay short; a slot once filled keeps
 * its key (its series may be NULL: refused, then never asked again). */
#define TABLE_SIZE 512

typedef struct slot {
    const char *route; /* NULL = empty */
    int method;
    int status;
    metrics_series *s;
} slot;

struct httpmetrics {
    metrics_family *f;
    size_t used;
    slot table[TABLE_SIZE];
};

httpmetrics *httpmetrics_new(metrics *m, err_t *e) {
    httpmetrics *h = agg_calloc(1, sizeof *h);
    if (h == NULL) {
        err_nomem(e);
        return NULL;
    }
    if (!(h->f = metrics_family_add(m, &family_def, e))) {
        agg_free(h);
        return NULL;
    }
    return h;
}

void httpmetrics_free(httpmetrics *h) { agg_free(h); }

const char *httpmetrics_outcome(int status) {
    switch (status / 100) {
    case 1: return "INFORMATIONAL";
    case 2: return "SUCCESS";
    case 3: return "REDIRECTION";
    case 4: return "CLIENT_ERROR";
    case 5: return "SERVER_ERROR";
    default: return "UNKNOWN";
    }
}

static int method_index(const char *m) {
    for (int i = 0; m && i < N_METHODS - 1; i++)
        if (strcmp(m, methods[i]) == 0) return i;
    return N_METHODS - 1;
}

static metrics_series *make_series(httpmetrics *h, const char *route, int method, int status,
                                   err_t *e) {
    char st[12];
    /* Statuses outside 0..999 are not HTTP's: one label value for all of them. */
    if (status >= 0 && status <= 999)
        snprintf(st, sizeof st, "%d", status);
    else
        strcpy(st, "0");
    const char *values[4] = {methods[method], route, st, httpmetrics_outcome(status)};
    return metrics_series_get(h->f, values, 4, e);
}

void httpmetrics_record(httpmetrics *h, const httpd_done *d) {
    if (h == NULL) return;
    const char *route = d->route ? d->route : d->status == 404 ? NOT_FOUND : UNKNOWN;
    int method = method_index(d->method);
    int status = d->status >= 0 && d->status <= 999 ? d->status : 1000;
    size_t i = ((uintptr_t)route >> 4 ^ (size_t)method * 31u ^ (size_t)status * 2654435761u) %
               TABLE_SIZE;
    for (size_t probes = 0; probes < TABLE_SIZE; probes++, i = (i + 1) % TABLE_SIZE) {
        slot *sl = &h->table[i];
        if (sl->route == route && sl->method == method && sl->status == status) {
            metrics_observe(sl->s, d->seconds);
            return;
        }
        if (sl->route == NULL) {
            /* Past the family's cap every new key is refused: stop filling the table then,
             * so that a flood of new keys cannot make each probe walk it all. */
            if (h->used >= HTTPMETRICS_MAX_SERIES) return;
            err_t e = {0};
            metrics_series *s = make_series(h, route, method, status, &e);
            if (s == NULL && err_is_nomem(&e)) return; /* asked again next time */
            *sl = (slot){route, method, status, s};
            h->used++;
            metrics_observe(sl->s, d->seconds);
            return;
        }
    }
}
