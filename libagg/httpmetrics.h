/* httpmetrics: http_server_requests_seconds{method,uri,status,outcome}, counted from httpd's on_done with a bounded set of series. */
#ifndef AGG_HTTPMETRICS_H
#define AGG_HTTPMETRICS_H

#include "err.h"
#include "httpd.h"
#include "metrics.h"

typedef struct httpmetrics httpmetrics;

/* At most this many series (route, method, status) in the family: the rest are not counted. */
#define HTTPMETRICS_MAX_SERIES 200

/* Registers http_server_requests_seconds in m (borrowed; outlives the result). NULL with e
 * filled on out of memory or when the family is registered already. Free with
 * httpmetrics_free. */
httpmetrics *httpmetrics_new(metrics *m, err_t *e);
/* Frees h (NULL is a no-op); the family and its series stay in the registry. */
void httpmetrics_free(httpmetrics *h);

/* Counts one finished request: uri is d->route (a static template), or NOT_FOUND for a 404
 * without one, else UNKNOWN; a method outside HTTP's standard ones is OTHER; status 0 (nothing
 * was answered) counts with outcome UNKNOWN. A (route, method, status) seen before costs a
 * probe of a small table by pointer and integers: no string formatting, no allocation. Past
 * HTTPMETRICS_MAX_SERIES the request is not counted; nor is it when its series cannot be made
 * for lack of memory (the next such request tries again). h may be NULL. */
void httpmetrics_record(httpmetrics *h, const httpd_done *d);

/* Spring's outcome of a status: INFORMATIONAL, SUCCESS, REDIRECTION, CLIENT_ERROR,
 * SERVER_ERROR, or UNKNOWN (a static string). */
const char *httpmetrics_outcome(int status);

#endif
