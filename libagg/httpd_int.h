/* httpd_int: the HTTP server's internal types, shared by httpd.c and httpd_stream.c only. */
#ifndef AGG_HTTPD_INT_H
#define AGG_HTTPD_INT_H

#include <microhttpd.h>

#include "httpd.h"
#include "list.h"

/* Lifecycle of a request (all on the loop thread):
 *   receiving -> dispatched to the handler -> answered at once, or suspended;
 *   a suspended request is resumed when the app answers (the answer is queued
 *   on MHD's next call of the access handler) or when its socket hangs up.
 * A stream is an answered request whose body comes from a byte queue; when
 * the queue is empty the connection is suspended inside the content reader
 * and its socket is watched for hang-up, so an idle stream costs no CPU and
 * a vanished client is noticed at once. */

/* One libmicrohttpd daemon of a server. A server runs several on one port (SO_REUSEPORT, the
 * kernel spreads new connections over them): libmicrohttpd 0.9.75 walks every suspended
 * connection of a daemon on each pass after a resume, and each idle stream is a suspended
 * connection, so a resume walks only its daemon's share; and only daemons with a resume run. */
typedef struct httpd_mhd {
    struct httpd *d;
    struct MHD_Daemon *mhd;
    int epoll_fd;      /* -1 until watched by the loop */
    int kick;          /* a connection was resumed: run MHD before the next wait */
    long long mhd_due; /* when MHD wants to run again (monotonic ms), -1 = only on events */
    int ran;           /* MHD ran since its timeout was last read */
    size_t n_conns;    /* connections with a socket context on this daemon */
    size_t n_streams;
} httpd_mhd;

struct httpd {
    loop *l;
    httpd_mhd *mhds; /* n_mhds daemons sharing port */
    unsigned n_mhds;
    int port;
    httpd_options opt;
    char *cors_origins; /* owned copy */
    httpd_handler *handler;
    void *handler_arg;
    list_node reqs; /* every live request (httpd_req.node), for httpd_stop */
    list_node conns; /* every connection with a socket context (httpd_conn.node) */
    size_t n_reqs;
    size_t n_streams;
    unsigned long long reaped;
    unsigned long long overflowed; /* requests answered 503 too_many_connections */
    size_t n_conns;                /* connections with a socket context */
    loop_timer *reaper;
    int prepared; /* before_wait is on the loop */
};

struct httpd_stream {
    httpd_req *r;
    char *buf;
    size_t start, len, cap; /* unsent bytes are buf[start, start+len) */
    void (*on_close)(void *arg);
    void *close_arg;
    unsigned char ending; /* close after the queue drains */
    unsigned char failed; /* over the limit or peer gone: close now */
};

/* One per TCP connection (MHD's socket context). The hang-up watch lives
 * here, added at the first suspend and kept until the connection closes:
 * adding and removing it around every suspend (a stream has one per event,
 * and keep-alive connections carry many requests) was half of the gateway's
 * epoll_ctl calls.
 * A connection also carries its deadline: libmicrohttpd's own timeout counts
 * from the last byte received, so a client that sends a byte a second would
 * hold its connection for ever; the reaper (a loop timer) shuts down the
 * socket of every connection past its deadline. */
typedef struct httpd_conn {
    list_node node; /* on httpd.conns */
    httpd_mhd *m;   /* the daemon serving it */
    long long deadline; /* monotonic ms; -1 = none (a request is handled, or a stream) */
    httpd_req *cur; /* the request being served, NULL between requests */
    int fd;         /* -1 when MHD did not give it */
    /* Flags are bytes: every idle stream holds a connection (and a request), so their size is
     * the gateway's memory per stream. */
    unsigned char watching;  /* the loop watches fd for hang-up */
    unsigned char peer_left; /* the client closed its side */
    unsigned char over;      /* accepted beyond conn_limit: its requests get 503 and it closes */
} httpd_conn;

struct httpd_req {
    httpd *d;
    httpd_mhd *m; /* the daemon serving it: a resume kicks this one only */
    httpd_conn *cx; /* NULL when MHD gave no socket context */
    struct MHD_Connection *conn;
    list_node node; /* on d->reqs */
    const char *method;
    const char *path;
    char *body;
    size_t body_len, body_cap;
    struct MHD_Response *pending;
    void (*cancel)(void *arg);
    void *cancel_arg;
    httpd_stream *stream;
    const char *route;     /* static, from httpd_req_set_route */
    long long started_ns;  /* CLOCK_MONOTONIC, when the headers were in */
    unsigned pending_status;
    unsigned status;       /* answered with, 0 = none */
    unsigned char too_large; /* bytes, as in httpd_conn */
    unsigned char dispatched;
    unsigned char in_handler;
    unsigned char suspended;
    unsigned char answered;
    unsigned char cancelled;
    unsigned char drop;
};

/* Parks r's connection (MHD_suspend_connection) and watches its socket for hang-up. */
void httpd_req_suspend(httpd_req *r);
/* Lets MHD run r's connection again before the loop's next wait. */
void httpd_req_resume(httpd_req *r);
/* The headers every answer carries: CORS for an allowed Origin, nosniff. */
void httpd_add_common_headers(httpd_req *r, struct MHD_Response *resp);
/* Queues resp now when inside the access handler, else keeps it for the handler call that
 * follows the resume. Takes ownership of resp. */
void httpd_queue_or_defer(httpd_req *r, unsigned status, struct MHD_Response *resp);
/* Gives cx a deadline timeout_ms from now (the reaper shuts its socket past it); <= 0: none. */
void httpd_conn_expect(httpd_conn *cx, long timeout_ms);

#endif
