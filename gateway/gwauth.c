/* gwauth: the gateway's authentication: verifies the request's bearer token and answers 401/403. */
#include "gwauth.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "apierr.h"
#include "loop.h"

void gw_auth_forbidden(gateway *gw) { metrics_inc(gw->metrics.auth_failures[GW_AUTH_FORBIDDEN], 1); }

/* 401 for reason with the RFC 6750 challenge: no error code when no token came (3.1). */
static void respond_unauthorized(gateway *gw, httpd_req *r, jwtauth_reason why, const char *desc) {
    metrics_inc(gw->metrics.auth_failures[why], 1);
    char challenge[256];
    if (why == JWTAUTH_MISSING)
        snprintf(challenge, sizeof challenge, "Bearer realm=\"aggregator\"");
    else
        snprintf(challenge, sizeof challenge,
                 "Bearer realm=\"aggregator\", error=\"invalid_token\", error_description=\"%s\"",
                 desc ? desc : "invalid token");
    api_error e;
    apierr_set(&e, 401, "unauthorized", NULL, "%s (%s)",
               why == JWTAUTH_MISSING ? "a bearer token is required" : desc ? desc : "invalid token",
               jwtauth_reason_name(why));
    char *body = apierr_to_json(&e, NULL);
    httpd_respond_header(r, 401, NULL,
                         body ? body : "{\"error\":\"unauthorized\",\"message\":\"unauthorized\"}",
                         "WWW-Authenticate", challenge);
    agg_free(body);
}

int gw_auth_request(gateway *gw, httpd_req *r, int allow_query, jwtauth_principal *p) {
    if (!gw->cfg.auth) {
        memcpy(p->sub, FANOUTMSG_ANONYMOUS, sizeof FANOUTMSG_ANONYMOUS);
        p->admin = 1;
        return 1;
    }
    const char *header = httpd_header(r, "Authorization");
    const char *tok = NULL;
    size_t len = 0;
    jwtauth_reason why;
    const char *desc = NULL;
    if (header && *header) {
        why = jwtauth_bearer(header, &tok, &len);
        desc = why == JWTAUTH_MISSING ? "the Authorization scheme must be Bearer"
                                      : "the bearer token is empty";
    } else if (allow_query && (tok = httpd_query(r, "access_token")) && *tok) {
        len = strlen(tok);
        why = JWTAUTH_OK;
    } else {
        why = JWTAUTH_MISSING;
    }
    int nomem = 0;
    if (why == JWTAUTH_OK)
        why = jwtauth_verify(gw->cfg.auth, tok, len, loop_wall_ms() / 1000, p, &desc, &nomem);
    if (why == JWTAUTH_OK) return 1;
    if (nomem) {
        api_error e;
        apierr_nomem(&e);
        httpd_respond_error(r, &e);
        return 0;
    }
    /* "Basic ..." is a token of another kind: invalid, not missing (an error code is due). */
    if (why == JWTAUTH_MISSING && header && *header) why = JWTAUTH_MALFORMED;
    respond_unauthorized(gw, r, why, desc);
    return 0;
}

int gw_auth_admin(gateway *gw, httpd_req *r) {
    jwtauth_principal p;
    if (!gw->cfg.auth) return 1;
    if (!gw_auth_request(gw, r, 0, &p)) return 0;
    if (p.admin) return 1;
    gw_auth_forbidden(gw);
    api_error e;
    apierr_set(&e, 403, "forbidden", NULL, "the actuator needs the admin role (JWT_ADMIN_ROLE)");
    httpd_respond_error(r, &e);
    return 0;
}
