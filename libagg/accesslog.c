/* accesslog: one structured line per finished HTTP request, with the request's trace. */
#include "accesslog.h"

#include <string.h>

#include "log.h"
#include "traceparent.h"

void accesslog_write(const httpd_done *d) {
    const char *path = d->path ? d->path : "";
    log_level lvl = strncmp(path, "/actuator/", 10) == 0 ? LOG_DEBUG : LOG_INFO;
    if (!log_enabled(lvl)) return;
    const char *route = d->route ? d->route : d->status == 404 ? "NOT_FOUND" : "UNKNOWN";
    traceparent tp;
    log_ctx ctx = {NULL, NULL, NULL};
    if (d->traceparent && traceparent_parse(d->traceparent, &tp, NULL) == AGG_OK) {
        ctx.trace_id = tp.trace_id;
        ctx.span_id = tp.span_id;
    }
    log_field f[] = {LOG_STR("method", d->method ? d->method : ""), LOG_STR("route", route),
                     LOG_INT("status", d->status), LOG_DBL("durationMs", d->seconds * 1000.0)};
    log_emit(lvl, &ctx, "http request", f, sizeof f / sizeof f[0]);
}
