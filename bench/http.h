/* http: an incremental HTTP/1.1 response parser (status, framing headers, chunked bodies). */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stddef.h>

enum { HTTP_MORE = 0, HTTP_DONE = 1, HTTP_ERR = -1 };

typedef struct http_resp {
    int state;
    int status;             /* 0 until the status line is parsed */
    int headers_done;       /* 1 once the blank line after the headers was seen */
    int chunked;
    int conn_close;         /* "Connection: close", or HTTP/1.0 without keep-alive */
    long long content_length;   /* -1 when absent */
    long long remaining;    /* bytes left in the current chunk or body */
    size_t line_len;
    char line[256];         /* status, header or chunk-size line being read; longer lines are truncated */
} http_resp;

/* Receives body bytes as they are decoded; p is valid during the call only. */
typedef void (*http_body_fn)(void *ud, const char *p, size_t n);

void http_resp_init(http_resp *r);
/* Feeds n bytes. Sets *used to the bytes consumed (less than n only when the
 * response ended inside the buffer). Returns HTTP_MORE, HTTP_DONE when the
 * whole response was read, or HTTP_ERR on a malformed response. */
int http_resp_feed(http_resp *r, const char *p, size_t n, size_t *used, http_body_fn body, void *ud);
/* Tells the parser the peer closed: HTTP_DONE when the body was
 * close-delimited (no length, not chunked), else HTTP_ERR. */
int http_resp_eof(http_resp *r);

/* Finds "key": in a JSON text of n bytes and copies its string value into
 * out (size outsz). Returns 0, or -1 when absent or too long. */
int http_json_str(const char *json, size_t n, const char *key, char *out, size_t outsz);
/* Same for an integer value. */
int http_json_long(const char *json, size_t n, const char *key, long *out);

#endif
