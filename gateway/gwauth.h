/* gwauth: AUTH_MODE=jwt on the gateway's routes: the bearer token, 401/403 answers, the admin role. */
#ifndef GW_GWAUTH_H
#define GW_GWAUTH_H

#include "gateway.h"
#include "jwtauth.h"

/* Who r comes from. AUTH_MODE=none: 1 with *p = FANOUTMSG_ANONYMOUS (admin: nothing is
 * checked). jwt: the token of the Authorization header (Bearer) or, when allow_query (the
 * stream: EventSource cannot set headers) and there is no header, of the access_token query
 * parameter; 1 with *p when it verifies, else 0 with r answered: 401 unauthorized with
 * WWW-Authenticate: Bearer (RFC 6750: error="invalid_token" and a description when a token was
 * given), or 503 out_of_memory, and gateway_auth_failures_total{reason} counted. The token is
 * never logged. */
int gw_auth_request(gateway *gw, httpd_req *r, int allow_query, jwtauth_principal *p);

/* The actuator (every route but the health probes): 1 when r may go on (AUTH_MODE=none, or a token
 * with the admin role), else 0 with r answered (401 as gw_auth_request, 403 forbidden without
 * the role). */
int gw_auth_admin(gateway *gw, httpd_req *r);

/* Counts a request refused with 403 forbidden (not its session's owner, not an admin). */
void gw_auth_forbidden(gateway *gw);

#endif
