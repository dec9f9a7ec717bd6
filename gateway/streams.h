/* streams: GET /aggregate/stream: subscribe, replay the log, de-duplicate, keep alive. */
#ifndef GW_STREAMS_H
#define GW_STREAMS_H

#include <stddef.h>

#include "gateway.h"

typedef struct gw_streams gw_streams;

/* The registry of gw's streams (gw borrowed for its lifetime); starts the
 * keep-alive timer on gw->l. NULL with e filled ("out of memory"). */
gw_streams *gw_streams_new(gateway *gw, err_t *e);
/* Frees the registry; call after httpd_stop() has closed every stream. */
void gw_streams_free(gw_streams *st);
/* Serves one GET /aggregate/stream request (answers it now or later). must_own (borrowed for
 * the call, copied): the verified principal the session's owner must be (AUTH_MODE=jwt), else
 * 403 forbidden; NULL: anyone may read it (AUTH_MODE=none). */
void gw_streams_handle(gw_streams *st, httpd_req *r, const char *must_own);
/* Draining: from now on every stream, open or opening, gets the events it is owed, then
 * "retry: <retry_ms>" and its end (see streams.c). */
void gw_streams_hand_over(gw_streams *st, long retry_ms);
/* Streams currently open to clients. */
size_t gw_streams_open(const gw_streams *st);

#endif
