/* webfiles: the web UI's files held in memory, their content types and ETags, the security headers and each request's answer. */
#ifndef AGG_WEBFILES_H
#define AGG_WEBFILES_H

#include <stddef.h>

#include "err.h"

/* The UI's files: the only names web-server ever serves (its allowlist). */
#define WEBFILES_COUNT 3
extern const char *const WEBFILES_NAMES[WEBFILES_COUNT];

/* Headers one answer carries (name/value pairs), at most. */
#define WEBFILES_MAX_PAIRS 16

typedef struct webfiles webfiles;

/* What to answer to one request; everything borrowed from the webfiles, valid until
 * webfiles_free. body is len bytes (not NUL-terminated for files); none for 304. */
typedef struct webfiles_answer {
    int status;
    const char *content_type;
    const char *body;
    size_t len;
    const char *const *headers; /* headers[2i] the name, headers[2i+1] the value */
    size_t n_pairs;
    const char *route; /* a static route name for metrics and logs, never the raw path */
} webfiles_answer;

/* The media type of a file name by its extension (text/html, text/css, text/javascript with
 * charset=utf-8); application/octet-stream for any other. Static string. */
const char *webfiles_content_type(const char *name);

/* Checks WEB_CONNECT_SRC: origins (scheme http or https, a host of letters, digits, '.' and
 * '-' or a bracketed IPv6 address, an optional port 1..65535, nothing after) separated by
 * commas or spaces; empty allows none. AGG_ERR with e naming the bad entry: anything that could
 * widen or break the policy (a path, a wildcard, a quote, a ';') is refused. */
int webfiles_connect_src_check(const char *list, err_t *e);

/* The Content-Security-Policy value: default-src 'none', scripts, styles and images from the
 * page's own origin only (images also data:, the page's empty icon), connect-src 'self' plus the
 * origins of connect_src (already checked with webfiles_connect_src_check; NULL = none), no
 * base, no form target, no framing. malloc'd, caller frees; NULL with e filled on out of memory. */
char *webfiles_csp(const char *connect_src, err_t *e);

/* 1 when an If-None-Match header value (NULL = absent) names etag ("*", a list, W/ weak
 * forms), so that the answer is 304. */
int webfiles_etag_matches(const char *if_none_match, const char *etag);

/* An empty set with the header set built once: the CSP of connect_src (checked by the caller),
 * and Strict-Transport-Security when https is 1 (a browser honours it only over https). NULL with
 * e filled on out of memory. Free with webfiles_free. */
webfiles *webfiles_new(const char *connect_src, int https, err_t *e);
/* Adds the file name (one of WEBFILES_NAMES) with len bytes of data (copied), its ETag (a
 * SHA-256 prefix of the bytes) and its headers. AGG_ERR with e filled for another name, one
 * added twice, or out of memory (w is then unchanged). */
int webfiles_add(webfiles *w, const char *name, const char *data, size_t len, err_t *e);
/* Reads every name of WEBFILES_NAMES from the folder root into w (start-up only: afterwards no
 * request reaches the file system). AGG_ERR with e naming the file that is missing, not a
 * regular file, over 4 MiB or unreadable. */
int webfiles_load(webfiles *w, const char *root, err_t *e);
/* 1 when every file of WEBFILES_NAMES has been added. */
int webfiles_complete(const webfiles *w);
/* Frees w and every file (NULL is fine). */
void webfiles_free(webfiles *w);

/* The answer to method and path (the request's path without its query, as the server received
 * it: nothing is decoded or normalised, so only the exact names match) with the request's
 * If-None-Match (NULL = absent): 200 or 304 for "/" (index.html), "/<name>" of a file added and
 * the health paths (/actuator/health, .../liveness, .../readiness); 404 for every other path;
 * 405 with Allow for any method but GET and HEAD (a HEAD's body is dropped by the server). Every
 * answer carries the security headers. Pure: no allocation. */
void webfiles_answer_for(const webfiles *w, const char *method, const char *path,
                         const char *if_none_match, webfiles_answer *out);

#endif
