/* httpd: libmicrohttpd on the event loop; requests, deferred answers and SSE streams. */
#ifndef AGG_HTTPD_H
#define AGG_HTTPD_H

#include <stddef.h>

#include "apierr.h"
#include "loop.h"

typedef struct httpd httpd;
typedef struct httpd_req httpd_req;
typedef struct httpd_stream httpd_stream;

/* Called once per request, on the loop, when the whole body has arrived
 * (bodies over max_body get a 413 without reaching the handler). The handler
 * either answers at once with httpd_respond_*() / httpd_stream_open(), or
 * returns without answering: the request is then suspended and the handler
 * (or any later loop callback) must answer it exactly once, or it is closed
 * when its client goes away (see httpd_req_on_cancel). */
typedef void httpd_handler(httpd_req *r, void *arg);

/* What a finished request reports to httpd_options.on_done; everything is borrowed for the
 * call. A request is finished when its answer (or stream) has ended or its client left. */
typedef struct httpd_done {
    const char *method;
    const char *path;
    const char *route;       /* the handler's httpd_req_set_route, NULL when it set none */
    const char *traceparent; /* the request's traceparent header, NULL when absent */
    int status;              /* the status answered, 0 when none was (dropped, client gone) */
    double seconds;          /* from the end of the request's headers to the end of its answer */
} httpd_done;

typedef struct httpd_options {
    const char *bind_addr; /* NULL = all interfaces */
    int port;
    size_t max_body;            /* bytes; 0 = 1 MiB */
    size_t stream_buffer_limit; /* max unsent bytes per stream; 0 = 64 KiB */
    size_t conn_memory_limit;   /* MHD per-connection pool; 0 = MHD default */
    /* Concurrent connections, 0 = MHD's default. A few more are accepted (HTTPD_OVERFLOW): a
     * request on one of them gets 503 {"error":"too_many_connections"} with Retry-After: 1
     * and Connection: close instead of a reset; past those, libmicrohttpd closes new
     * connections unanswered. */
    unsigned conn_limit;
    /* Requests whose path starts with this are served even on a connection beyond conn_limit
     * (the health probes: a full replica is not a dead one); NULL = none. Static string. */
    const char *overflow_exempt_prefix;
    const char *cors_origins;   /* comma-separated allowed origins, or NULL */
    /* Per-connection deadlines (ms; 0 = none), enforced by a loop timer that shuts the
     * socket down: the whole request header from the connection's start (or from the end of
     * the previous request), a request body without progress, and a kept-alive connection
     * with no request. A request being handled or a stream has no deadline. */
    long header_timeout_ms;
    long body_timeout_ms;
    long idle_timeout_ms;
    /* Called on the loop for every finished request (metrics, the access log); NULL = none.
     * It must not call back into this server. */
    void (*on_done)(const httpd_done *done, void *arg);
    void *on_done_arg;
    /* HTTPS with this certificate (borrowed; it outlives the server), NULL = plain HTTP. */
    const struct tlsserve *tls;
    /* libmicrohttpd daemons sharing the port (SO_REUSEPORT; the kernel spreads connections
     * over them), all on this loop; 0 = 1, at most HTTPD_MAX_LISTENERS. libmicrohttpd walks
     * every suspended connection (idle stream) of a daemon after each resume on it: n daemons
     * cut that walk n times. conn_limit counts all of them together. */
    unsigned listeners;
} httpd_options;

#define HTTPD_MAX_LISTENERS 64

/* Starts listening. NULL with e filled when the port is taken etc. */
httpd *httpd_start(loop *l, const httpd_options *o, httpd_handler *h, void *arg, err_t *e);
/* Stops accepting, closes every connection (stream on_close callbacks run). */
void httpd_stop(httpd *d);
/* The port actually bound (useful with port 0). */
int httpd_port(const httpd *d);
/* Number of open streams. */
size_t httpd_stream_count(const httpd *d);
/* Number of requests received and not yet completed (streams included): 0 when the
 * server has nothing in progress. */
size_t httpd_request_count(const httpd *d);
/* Connections closed so far for passing a header, body or idle deadline. */
unsigned long long httpd_reaped_count(const httpd *d);
/* Requests answered 503 too_many_connections so far (conn_limit). */
unsigned long long httpd_overflow_count(const httpd *d);
/* The number of libmicrohttpd daemons serving the port (httpd_options.listeners). */
unsigned httpd_listener_count(const httpd *d);
/* Open streams on daemon i (0 .. httpd_listener_count - 1; 0 past it): how the kernel spread
 * the connections. */
size_t httpd_listener_streams(const httpd *d, unsigned i);
/* The connections accepted beyond conn_limit before libmicrohttpd refuses unanswered:
 * conn_limit / 100, at least 8 and at most 64. */
unsigned httpd_overflow_margin(unsigned conn_limit);

/* Request accessors. Returned strings are borrowed, valid until the request
 * is answered or cancelled. Missing values are NULL. */
const char *httpd_method(const httpd_req *r);
const char *httpd_path(const httpd_req *r);
const char *httpd_query(const httpd_req *r, const char *key);
/* Every value of the query parameter key (?tag=a:1&tag=b:2), in order: at most max into out
 * (borrowed as httpd_query's); returns how many there are, which may be more than max. */
size_t httpd_query_all(const httpd_req *r, const char *key, const char **out, size_t max);
const char *httpd_header(const httpd_req *r, const char *name);
const char *httpd_body(const httpd_req *r, size_t *len); /* NUL-terminated */
/* Names the route template that r matched (e.g. "/aggregate/stream"), reported in
 * httpd_done.route: metrics and logs use it, never the raw path, so that a client cannot create
 * a new label value. route must be a static string. */
void httpd_req_set_route(httpd_req *r, const char *route);

/* Answers with body (copied). content_type NULL = application/json. After an
 * answer r is invalid. */
void httpd_respond(httpd_req *r, int status, const char *content_type, const char *body);
/* httpd_respond with one more response header (header: value, both copied; NULL adds none). */
void httpd_respond_header(httpd_req *r, int status, const char *content_type, const char *body,
                          const char *header, const char *value);
/* httpd_respond with n_pairs more response headers: headers[2i] the name, headers[2i+1] the
 * value (a pair with a NULL is skipped); all copied. */
void httpd_respond_headers(httpd_req *r, int status, const char *content_type, const char *body,
                           const char *const *headers, size_t n_pairs);
/* Answers with len bytes of body that are not copied: they must stay unchanged until httpd_stop
 * (a file held in memory for the server's life). Only Content-Type (NULL = application/json) and
 * the n_pairs headers as httpd_respond_headers are sent: no default Cache-Control, no CORS; the
 * caller gives every header it wants. A HEAD request gets the headers and no body. */
void httpd_respond_static(httpd_req *r, int status, const char *content_type, const void *body,
                          size_t len, const char *const *headers, size_t n_pairs);
/* The client's IP address as text into out (size outsz; INET6_ADDRSTRLEN is enough): AGG_OK, or
 * AGG_ERR with out "" when libmicrohttpd gives none. */
int httpd_client_ip(const httpd_req *r, char *out, size_t outsz);
/* Answers with the API's JSON error body and e->http_status; a 503 gets Retry-After: 1. */
void httpd_respond_error(httpd_req *r, const api_error *e);
/* As httpd_respond_error, with one more header (header: value, both copied; NULL adds none):
 * a 405 names the methods the route takes in Allow (RFC 9110 15.5.6). */
void httpd_respond_error_header(httpd_req *r, const api_error *e, const char *header,
                                const char *value);
/* As httpd_respond_error, with the header Retry-After: retry_after_s (seconds). */
void httpd_respond_error_retry(httpd_req *r, const api_error *e, int retry_after_s);

/* Closes the connection without any answer (resource-sim's fault mode -3).
 * After it r is invalid. */
void httpd_drop(httpd_req *r);

/* Called if the client goes away before a suspended request was answered;
 * after it, r is invalid and must not be answered. */
void httpd_req_on_cancel(httpd_req *r, void (*cancel)(void *arg), void *arg);

/* Answers 200 with a streaming body (text/event-stream when content_type is
 * NULL). on_close(arg) runs exactly once when the stream ends for any reason
 * (client gone, buffer over limit, httpd_stream_end flushed, httpd_stop);
 * the stream handle is invalid after it. NULL with e filled when r was
 * answered or cancelled already, or on out of memory (r is then answered 500). */
httpd_stream *httpd_stream_open(httpd_req *r, const char *content_type, void (*on_close)(void *arg),
                                void *arg, err_t *e);
/* Queues bytes (copied). AGG_ERR with e (may be NULL) filled when the stream
 * is closing, on out of memory, or when bytes are already waiting and these
 * would take the unsent bytes past stream_buffer_limit: these are dropped and
 * the stream ends once the queued bytes are sent, or is cut when they are not
 * taken within idle_timeout_ms (at once when that is 0); a slow client
 * reconnects with Last-Event-ID and loses nothing. Write whole events. An
 * empty queue takes one write of any size, so that an event larger than the
 * limit still reaches a client that reads; a stream thus holds at most the
 * limit plus one event. The socket's kernel send buffer is capped at the limit
 * too (SO_SNDBUF), so a stalled reader cannot park megabytes in the kernel. */
int httpd_stream_write(httpd_stream *s, const char *data, size_t len, err_t *e);
/* Closes the stream at once without its end (the client sees a broken
 * stream and, an EventSource, reconnects with Last-Event-ID): for a stream
 * that cannot be written as it should. on_close runs later, from the loop. */
void httpd_stream_fail(httpd_stream *s);
/* Closes the stream once every queued byte is sent. */
void httpd_stream_end(httpd_stream *s);

#endif
