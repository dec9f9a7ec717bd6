/* accesslog: the access log line of a finished HTTP request. */
#ifndef AGG_ACCESSLOG_H
#define AGG_ACCESSLOG_H

#include "httpd.h"

/* Writes one line "http request" with fields method, route, status and durationMs, and the
 * request's traceId/spanId when its traceparent is valid: at INFO, at DEBUG under /actuator/
 * (probes and scrapes come every few seconds). route is d->route, else NOT_FOUND for a 404
 * and UNKNOWN otherwise (never the raw path: a client must not choose what is logged as a
 * route). d borrowed for the call; never fails. For httpd_options.on_done. */
void accesslog_write(const httpd_done *d);

#endif
