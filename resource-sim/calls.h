/* calls: counts the calls the resource got per correlationId, so tests can tell a repeated call. */
#ifndef RS_CALLS_H
#define RS_CALLS_H

#include <stddef.h>

#include "err.h"
#include "httpd.h"

/* Sessions tracked per resource: the oldest is forgotten beyond this. */
#define RS_CALLS_TRACKED 16384

typedef struct rs_calls rs_calls;

/* An empty count tracking up to capacity (>= 1) correlation ids; NULL with e
 * filled (capacity 0, or "out of memory"). Free with rs_calls_free (NULL allowed). */
rs_calls *rs_calls_new(size_t capacity, err_t *e);
void rs_calls_free(rs_calls *c);

/* Counts one POST /journals for correlation id cid (borrowed; anything but a
 * correlation id is ignored). Beyond capacity the least recently first-seen id
 * is forgotten (a later call for it counts from 1 again). */
void rs_calls_note(rs_calls *c, const char *cid);
/* Calls counted for cid: 0 when none (or forgotten). */
unsigned rs_calls_count(const rs_calls *c, const char *cid);
/* Every call counted, and those for an id already counted (repeated calls). */
unsigned long long rs_calls_total(const rs_calls *c);
unsigned long long rs_calls_repeated(const rs_calls *c);

/* GET /journals/calls[?correlationId=<id>]:
 *   with an id   200 {"correlationId":"<id>","calls":N}
 *   without      200 {"calls":total,"repeated":R,"tracked":sessions}
 *   a bad id     400 invalid_field (correlationId) */
void rs_calls_handle(rs_calls *c, httpd_req *r);

#endif
