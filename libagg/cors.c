/* cors: the origin list lookup and the CORS response headers of httpd. */
#include "cors.h"

#include <microhttpd.h>
#include <string.h>

int cors_origin_allowed(const char *allowed, const char *origin) {
    if (!origin || !allowed) return 0;
    size_t n = strlen(origin);
    const char *p = allowed;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *last = end;
        while (last > p && last[-1] == ' ') last--;
        if ((size_t)(last - p) == n && strncmp(p, origin, n) == 0) return 1;
        p = end;
    }
    return 0;
}

void cors_add_headers(struct MHD_Response *resp, const char *allowed, const char *origin,
                      int preflight) {
    if (!cors_origin_allowed(allowed, origin)) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    if (!preflight) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, Last-Event-ID");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
}
