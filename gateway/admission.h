/* admission: whether a new session or stream may start on this gateway: draining, the rate limit per client (local or shared through Redis), the caps on streams and sessions in flight, load shedding. */
#ifndef GW_ADMISSION_H
#define GW_ADMISSION_H

#include <stddef.h>

#include "err.h"
#include "httpd.h"

struct gateway;

/* What a request asks to start. */
enum { GW_ADMIT_SESSION, GW_ADMIT_STREAM };

/* Reasons of gateway_admission_refused_total, in this order. */
enum {
    GW_REFUSED_RATE_LIMITED,
    GW_REFUSED_TOO_MANY_STREAMS,
    GW_REFUSED_TOO_MANY_SESSIONS,
    GW_REFUSED_OVERLOADED,
    GW_REFUSED_SHUTTING_DOWN,
    GW_REFUSED__COUNT
};

typedef struct gw_admission gw_admission;

/* The admission of gw as its configuration says (gw->cfg, gw->metrics set). NULL with e
 * filled on out of memory. Caller frees with gw_admission_free after the HTTP servers stopped
 * (a request waiting for Redis is then cancelled). */
gw_admission *gw_admission_new(struct gateway *gw, err_t *e);
void gw_admission_free(gw_admission *a);

/* Decides on r, then either answers it (503 shutting_down, 429 rate_limited, 503
 * too_many_streams, too_many_sessions or overloaded, each with Retry-After) or hands it to
 * gw_journals_handle (GW_ADMIT_SESSION, principal the session's owner) or gw_streams_handle
 * (GW_ADMIT_STREAM, which must be principal's when authenticated). principal (borrowed for the
 * call, copied) is the verified token's sub when authenticated (AUTH_MODE=jwt: the rate limit's
 * bucket is then the principal's), FANOUTMSG_ANONYMOUS otherwise (the client address's). With
 * RATE_LIMIT_SCOPE=cluster and Redis up that happens later, from the loop, after the shared
 * bucket's answer (r suspended; a client that goes away meanwhile is forgotten); else at once.
 * Never fails: without Redis, or out of memory, the local bucket decides. */
void gw_admit(struct gateway *gw, httpd_req *r, int kind, const char *principal,
              int authenticated);

/* Counts one session started with this timeout against MAX_SESSIONS_IN_FLIGHT until its
 * deadline (plus at most one slot of the ring, docs/configuration.md). */
void gw_admission_session_started(gw_admission *a, long timeout_ms);

/* Sessions started here whose deadline is still ahead (gateway_sessions_in_flight). */
size_t gw_admission_sessions_in_flight(gw_admission *a);

#endif
