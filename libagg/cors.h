/* cors: which browser origins may read httpd's answers (CORS_ALLOWED_ORIGINS) and the headers that say so. */
#ifndef AGG_CORS_H
#define AGG_CORS_H

struct MHD_Response;

/* 1 when origin is one of allowed (comma-separated, spaces around entries ignored; compared
 * exactly), else 0; either may be NULL (0). Pure. */
int cors_origin_allowed(const char *allowed, const char *origin);

/* Adds Access-Control-Allow-Origin (and Vary: Origin) to resp when origin is allowed, and for a
 * preflight (OPTIONS) the allowed methods and headers and their lifetime. */
void cors_add_headers(struct MHD_Response *resp, const char *allowed, const char *origin,
                      int preflight);

#endif
