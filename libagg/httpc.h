/* httpc: outbound HTTP requests with libcurl multi on the event loop. */
#ifndef AGG_HTTPC_H
#define AGG_HTTPC_H

#include <stddef.h>

#include "loop.h"
#include "outcome.h"

typedef struct httpc httpc;

typedef struct httpc_result {
    transport_t transport; /* how the exchange ended (see outcome.h) */
    long status;           /* HTTP status, 0 when none was received */
    const char *body;      /* response body, NUL-terminated; borrowed for the callback only */
    size_t body_len;
    const char *error; /* curl's error text, "" when none; borrowed */
} httpc_result;

typedef void httpc_done_cb(const httpc_result *res, void *arg);

/* Returns a client on loop l, or NULL with e filled. */
httpc *httpc_new(loop *l, err_t *e);
/* TLS for https:// URLs. Servers are always verified (chain and host name), TLS 1.2 or later. */
typedef struct httpc_tls {
    const char *ca_file;   /* PEM CA bundle trusted for servers; NULL = the system's */
    const char *cert_file; /* PEM client certificate (mutual TLS); NULL = none */
    const char *key_file;  /* its unencrypted PEM private key; with cert_file only */
    /* names for error messages, e.g. "RESOURCE_TLS_CA_FILE"; NULL = "CA file" etc. */
    const char *ca_var, *cert_var, *key_var;
} httpc_tls;

/* Checks t's files at start-up: AGG_ERR with one line naming the variable when one cannot be
 * read, holds no PEM certificate (or key), the key is not the certificate's, or only one of
 * cert_file and key_file is set. Changes nothing. */
int httpc_tls_check(const httpc_tls *t, err_t *e);

/* Every later request of c uses t (copied; checked as httpc_tls_check): set once on each of c's
 * curl handles, not per request. AGG_ERR with e filled (c unchanged) when t is bad. */
int httpc_set_tls(httpc *c, const httpc_tls *t, err_t *e);

/* Aborts every request in flight (their callbacks are not called) and frees. */
void httpc_free(httpc *c);

/* Starts POST url with a JSON body (copied). done runs exactly once on the
 * loop. Timeouts in ms; 0 means none. AGG_ERR (done not called) when the
 * request cannot be started. */
int httpc_post_json(httpc *c, const char *url, const char *body, long connect_timeout_ms,
                    long total_timeout_ms, httpc_done_cb *done, void *arg, err_t *e);

/* The longest extra header line httpc_post_json_header takes (a traceparent fits). */
#define HTTPC_HEADER_MAX 128
/* httpc_post_json with one more request header, header = "Name: value" (copied; NULL adds
 * none). AGG_ERR as httpc_post_json, and when header is not one such line of fewer than
 * HTTPC_HEADER_MAX bytes. */
int httpc_post_json_header(httpc *c, const char *url, const char *body, const char *header,
                           long connect_timeout_ms, long total_timeout_ms, httpc_done_cb *done,
                           void *arg, err_t *e);

/* Requests in flight. */
size_t httpc_in_flight(const httpc *c);

#endif
