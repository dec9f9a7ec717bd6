/* httpd: libmicrohttpd on the event loop; requests, deferred answers and SSE streams. */
#include "httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "err.h"
#include "list.h"
#include "log.h"

/* Lifecycle of a request (all on the loop thread):
 *   receiving -> dispatched to the handler -> answered at once, or suspended;
 *   a suspended request is resumed when the app answers (the answer is queued
 *   on MHD's next call of the access handler) or when its socket hangs up.
 * A stream is an answered request whose body comes from a byte queue; when
 * the queue is empty the connection is suspended inside the content reader
 * and its socket is watched for hang-up, so an idle stream costs no CPU and
 * a vanished client is noticed at once. */

struct httpd {
    loop *l;
    struct MHD_Daemon *mhd;
    int epoll_fd;
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
    loop_timer *reaper;
    int kick;          /* a connection was resumed: run MHD before the next wait */
    long long mhd_due; /* when MHD wants to run again (monotonic ms), -1 = only on events */
};

struct httpd_stream {
    httpd_req *r;
    char *buf;
    size_t start, len, cap; /* unsent bytes are buf[start, start+len) */
    int ending;             /* close after the queue drains */
    int failed;             /* over the limit or peer gone: close now */
    void (*on_close)(void *arg);
    void *close_arg;
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
    long long deadline; /* monotonic ms; -1 = none (a request is handled, or a stream) */
    int fd;         /* -1 when MHD did not give it */
    int watching;   /* the loop watches fd for hang-up */
    int peer_left;  /* the client closed its side */
    httpd_req *cur; /* the request being served, NULL between requests */
} httpd_conn;

struct httpd_req {
    httpd *d;
    httpd_conn *cx; /* NULL when MHD gave no socket context */
    struct MHD_Connection *conn;
    list_node node; /* on d->reqs */
    const char *method;
    const char *path;
    char *body;
    size_t body_len, body_cap;
    int too_large;
    int dispatched;
    int in_handler;
    int suspended;
    int answered;
    int cancelled;
    int drop;
    struct MHD_Response *pending;
    unsigned pending_status;
    void (*cancel)(void *arg);
    void *cancel_arg;
    httpd_stream *stream;
    const char *route;     /* static, from httpd_req_set_route */
    unsigned status;       /* answered with, 0 = none */
    long long started_ns;  /* CLOCK_MONOTONIC, when the headers were in */
};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The connection's socket into *fd; AGG_ERR when MHD does not give it. */
static int conn_fd(struct MHD_Connection *c, int *fd) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return AGG_ERR;
    *fd = ci->connect_fd;
    return AGG_OK;
}

static void on_peer_hangup(loop *l, int fd, unsigned events, void *arg);
static void conn_expect(httpd_conn *cx, long timeout_ms);

static void peer_gone(httpd_req *r);

static void suspend_req(httpd_req *r) {
    if (r->suspended) return;
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    httpd_conn *cx = r->cx;
    if (!cx) return;
    if (cx->peer_left) {
        peer_gone(r);
        return;
    }
    if (!cx->watching && cx->fd >= 0 &&
        loop_watch(r->d->l, cx->fd, LOOP_HUP, on_peer_hangup, cx, NULL) == AGG_OK)
        cx->watching = 1;
}

static void resume_req(httpd_req *r) {
    if (!r->suspended) return;
    r->suspended = 0;
    r->d->kick = 1;
    MHD_resume_connection(r->conn);
}

/* The watch is level-triggered, so it is dropped at the first report; a
 * request that MHD is serving (resumed) meets the hang-up itself, and the
 * next suspend on this connection acts on it at once. */
static void on_peer_hangup(loop *l, int fd, unsigned events, void *arg) {
    (void)events;
    httpd_conn *cx = arg;
    loop_unwatch(l, fd);
    cx->watching = 0;
    cx->peer_left = 1;
    if (cx->cur && cx->cur->suspended) peer_gone(cx->cur);
}

static void peer_gone(httpd_req *r) {
    if (r->stream) {
        /* Failed as by the application: MHD alone would keep the connection (see there). */
        httpd_stream_fail(r->stream);
        return;
    } else if (!r->answered && !r->cancelled) {
        r->cancelled = 1;
        if (r->cancel) r->cancel(r->cancel_arg);
    }
    resume_req(r);
}

static int origin_allowed(const httpd *d, const char *origin) {
    if (!origin || !d->cors_origins) return 0;
    size_t n = strlen(origin);
    const char *p = d->cors_origins;
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

static void add_common_headers(httpd_req *r, struct MHD_Response *resp) {
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (origin_allowed(r->d, origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Queues resp now when inside the access handler, else keeps it for the
 * handler call that follows the resume. Takes ownership of resp. */
static void queue_or_defer(httpd_req *r, unsigned status, struct MHD_Response *resp) {
    r->answered = 1;
    r->status = status;
    if (r->in_handler) {
        MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
        return;
    }
    r->pending = resp;
    r->pending_status = status;
    resume_req(r);
}

void httpd_respond_headers(httpd_req *r, int status, const char *content_type, const char *body,
                           const char *const *headers, size_t n_pairs) {
    if (r->answered || r->cancelled) return;
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        r->drop = 1;
        r->answered = 1;
        if (!r->in_handler) resume_req(r);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type ? content_type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; i < n_pairs; i++)
        if (headers[2 * i] && headers[2 * i + 1])
            MHD_add_response_header(resp, headers[2 * i], headers[2 * i + 1]);
    add_common_headers(r, resp);
    queue_or_defer(r, (unsigned)status, resp);
}

void httpd_respond_header(httpd_req *r, int status, const char *content_type, const char *body,
                          const char *header, const char *value) {
    const char *pair[2] = {header, value};
    httpd_respond_headers(r, status, content_type, body, pair, 1);
}

int httpd_client_ip(const httpd_req *r, char *out, size_t outsz) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    const char *ok = NULL;
    if (sa && sa->sa_family == AF_INET)
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                       (socklen_t)outsz);
    else if (sa && sa->sa_family == AF_INET6)
        ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                       (socklen_t)outsz);
    if (!ok && outsz) out[0] = '\0';
    return ok ? AGG_OK : AGG_ERR;
}

void httpd_respond(httpd_req *r, int status, const char *content_type, const char *body) {
    httpd_respond_header(r, status, content_type, body, NULL, NULL);
}

void httpd_respond_error_retry(httpd_req *r, const api_error *e, int retry_after_s) {
    char *body = apierr_to_json(e, NULL);
    char v[24];
    snprintf(v, sizeof v, "%d", retry_after_s);
    httpd_respond_header(r, e->http_status, NULL,
                         body ? body : "{\"error\":\"internal\",\"message\":\"out of memory\"}",
                         retry_after_s >= 0 ? "Retry-After" : NULL, v);
    agg_free(body);
}

/* A 503 always says when to try again (RFC 9110 15.6.4): a client, or a balancer, that waits a
 * second finds the dependency back or another replica ready. */
void httpd_respond_error(httpd_req *r, const api_error *e) {
    httpd_respond_error_retry(r, e, e->http_status == 503 ? 1 : -1);
}

void httpd_drop(httpd_req *r) {
    if (r->answered || r->cancelled) return;
    r->answered = 1;
    r->drop = 1;
    if (!r->in_handler) resume_req(r);
}

void httpd_req_set_route(httpd_req *r, const char *route) { r->route = route; }

void httpd_req_on_cancel(httpd_req *r, void (*cancel)(void *arg), void *arg) {
    r->cancel = cancel;
    r->cancel_arg = arg;
}

const char *httpd_method(const httpd_req *r) { return r->method; }
const char *httpd_path(const httpd_req *r) { return r->path; }

const char *httpd_query(const httpd_req *r, const char *key) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct query_all {
    const char *key;
    const char **out;
    size_t max, n;
} query_all;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    query_all *q = cls;
    (void)kind;
    if (key != NULL && strcmp(key, q->key) == 0) {
        if (q->n < q->max) q->out[q->n] = value ? value : "";
        q->n++;
    }
    return MHD_YES;
}

size_t httpd_query_all(const httpd_req *r, const char *key, const char **out, size_t max) {
    query_all q = {key, out, max, 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_value, &q);
    return q.n;
}

const char *httpd_header(const httpd_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *httpd_body(const httpd_req *r, size_t *len) {
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}

/* --- streams --- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    httpd_stream *s = cls;
    /* Ending needs further MHD passes that no socket event may trigger. */
    if (s->failed) {
        s->r->d->kick = 1;
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s->len == 0) {
        if (s->ending) {
            s->r->d->kick = 1;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->r->cx && s->r->cx->peer_left) {
            /* The client left while MHD was sending: end here rather than suspend and resume
             * from inside this reader. */
            httpd_stream_fail(s);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        /* Nothing to send: park the connection until a write or a hang-up. */
        suspend_req(s->r);
        return 0;
    }
    size_t n = s->len < max ? s->len : max;
    memcpy(buf, s->buf + s->start, n);
    s->start += n;
    s->len -= n;
    if (s->len == 0) {
        /* An idle stream keeps no buffer: most of the time it has nothing to send. */
        agg_free(s->buf);
        s->buf = NULL;
        s->start = s->cap = 0;
    }
    return (ssize_t)n;
}

httpd_stream *httpd_stream_open(httpd_req *r, const char *content_type, void (*on_close)(void *arg),
                                void *arg, err_t *e) {
    if (r->answered || r->cancelled) {
        err_set(e, "the request was answered or cancelled already");
        return NULL;
    }
    httpd_stream *s = agg_calloc(1, sizeof *s);
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 2048, stream_read, s, NULL) : NULL;
    if (!resp) {
        agg_free(s);
        httpd_respond(r, 500, NULL, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        err_nomem(e);
        return NULL;
    }
    s->r = r;
    s->on_close = on_close;
    s->close_arg = arg;
    MHD_add_response_header(resp, "Content-Type",
                            content_type ? content_type : "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_common_headers(r, resp);
    r->stream = s;
    r->d->n_streams++;
    if (r->cx && r->cx->fd >= 0) {
        /* Linux grows a socket's send buffer up to 4 MiB for a reader that does not read;
         * fixing it keeps what a stalled stream holds in the kernel near the limit too. The
         * kernel doubles the value; failure only loses the cap. */
        int sndbuf = (int)(r->d->opt.stream_buffer_limit / 2);
        setsockopt(r->cx->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    queue_or_defer(r, 200, resp);
    return s;
}

int httpd_stream_write(httpd_stream *s, const char *data, size_t len, err_t *e) {
    if (s->failed || s->ending) return err_set(e, "the stream is closing");
    size_t limit = s->r->d->opt.stream_buffer_limit;
    if (s->len > 0 && s->len + len > limit) {
        /* The client gets the whole events queued so far, then the end, and resumes with
         * Last-Event-ID: a replay larger than the limit thus progresses. A reader that does
         * not take them within the idle deadline is cut (the reaper). */
        long grace = s->r->d->opt.idle_timeout_ms;
        if (grace <= 0 || !s->r->cx) {
            httpd_stream_fail(s);
        } else {
            s->ending = 1;
            conn_expect(s->r->cx, grace);
            resume_req(s->r);
        }
        return err_set(e, "the stream's unsent bytes would pass its limit of %zu", limit);
    }
    if (s->start + s->len + len > s->cap) {
        if (s->start > 0) {
            memmove(s->buf, s->buf + s->start, s->len);
            s->start = 0;
        }
        if (s->len + len > s->cap) {
            size_t need = s->len + len;
            size_t cap = s->cap ? s->cap : 512;
            while (cap < need) cap *= 2;
            /* Doubling stops at the limit: one large event gets exactly its size. */
            if (cap > limit) cap = need > limit ? need : limit;
            char *b = agg_realloc(s->buf, cap);
            if (!b) {
                httpd_stream_fail(s);
                return err_nomem(e);
            }
            s->buf = b;
            s->cap = cap;
        }
    }
    memcpy(s->buf + s->start + s->len, data, len);
    s->len += len;
    resume_req(s->r);
    return AGG_OK;
}

void httpd_stream_fail(httpd_stream *s) {
    if (s->failed) return;
    s->failed = 1;
    /* libmicrohttpd ends the response on the error but may keep the connection open (measured:
     * a keep-alive stream failed before its first byte stays open): the client must see the
     * stream break, so the socket is shut down here; MHD then closes it. */
    if (s->r->cx && s->r->cx->fd >= 0) shutdown(s->r->cx->fd, SHUT_RDWR);
    /* Nor may MHD run the connection again at all: one that never met EAGAIN is in none of its
     * epoll sets, so no event of its socket reaches it (measured: an SSE stream whose client
     * left stayed open, CLOSE_WAIT or shut down, until the 120 s idle timeout). Its timeout
     * scan reaches every connection: a 1 s timeout closes it. */
    MHD_set_connection_option(s->r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)1);
    resume_req(s->r);
    s->r->d->kick = 1;
}

void httpd_stream_end(httpd_stream *s) {
    s->ending = 1;
    resume_req(s->r);
}

size_t httpd_stream_count(const httpd *d) { return d->n_streams; }
size_t httpd_request_count(const httpd *d) { return d->n_reqs; }
unsigned long long httpd_reaped_count(const httpd *d) { return d->reaped; }

/* --- connection deadlines --- */

static void conn_expect(httpd_conn *cx, long timeout_ms) {
    if (cx) cx->deadline = timeout_ms > 0 ? loop_now_ms() + timeout_ms : -1;
}

static void reap(loop *l, void *arg);

static long reap_tick_ms(const httpd_options *o) {
    long t = 0;
    long v[3] = {o->header_timeout_ms, o->body_timeout_ms, o->idle_timeout_ms};
    for (int i = 0; i < 3; i++)
        if (v[i] > 0 && (t == 0 || v[i] < t)) t = v[i];
    t /= 4;
    return t < 25 ? 25 : t > 1000 ? 1000 : t;
}

/* Shuts down the socket of each connection past its deadline; libmicrohttpd sees the
 * socket end and closes the connection (as for httpd_stream_fail). A walk over every
 * connection each tick: 3,000 connections at a 250 ms tick cost far less than their
 * sockets' epoll events. */
static void reap(loop *l, void *arg) {
    httpd *d = arg;
    long long now = loop_now_ms();
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &d->conns) {
        httpd_conn *cx = list_entry(pos, httpd_conn, node);
        if (cx->deadline < 0 || now < cx->deadline) continue;
        cx->deadline = -1;
        d->reaped++;
        if (cx->fd >= 0) shutdown(cx->fd, SHUT_RDWR);
        d->kick = 1;
    }
    /* NULL (out of memory): before_wait tries again. */
    d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d);
}
int httpd_port(const httpd *d) { return d->port; }

/* --- MHD callbacks --- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    httpd *d = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* NULL: served without a hang-up watch or a deadline */
        httpd_conn *cx = agg_calloc(1, sizeof *cx);
        if (cx && conn_fd(c, &cx->fd) != AGG_OK) cx->fd = -1; /* served without the watch */
        if (cx) {
            list_insert_before(&d->conns, &cx->node);
            conn_expect(cx, d->opt.header_timeout_ms);
        }
        *socket_context = cx;
        return;
    }
    httpd_conn *cx = *socket_context;
    if (!cx) return;
    *socket_context = NULL;
    list_remove(&cx->node);
    if (cx->watching) loop_unwatch(d->l, cx->fd);
    if (cx->cur) cx->cur->cx = NULL;
    agg_free(cx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)toe;
    httpd_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (r->cx && r->cx->cur == r) {
        r->cx->cur = NULL;
        /* Kept alive (or closing, when the close notice follows): idle until a request. */
        conn_expect(r->cx, r->d->opt.idle_timeout_ms);
    }
    r->d->n_reqs--;
    if (r->d->opt.on_done && (r->dispatched || r->answered)) {
        httpd_done done = {r->method, r->path, r->route,
                           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"),
                           r->drop ? 0 : (int)r->status,
                           (double)(now_ns() - r->started_ns) / 1e9};
        r->d->opt.on_done(&done, r->d->opt.on_done_arg);
    }
    if (r->pending) MHD_destroy_response(r->pending);
    if (r->stream) {
        httpd_stream *s = r->stream;
        r->d->n_streams--;
        if (s->on_close) s->on_close(s->close_arg);
        agg_free(s->buf);
        agg_free(s);
    } else if (!r->answered && !r->cancelled && r->cancel) {
        r->cancel(r->cancel_arg);
    }
    list_remove(&r->node);
    agg_free(r->body);
    agg_free(r);
}

static enum MHD_Result respond_now(struct MHD_Connection *c, httpd_req *r, unsigned status,
                                   const char *body) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r) add_common_headers(r, resp);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (r) r->answered = 1, r->status = status;
    return ret;
}

static enum MHD_Result answer_preflight(httpd_req *r) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (origin_allowed(r->d, origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Last-Event-ID");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    r->status = MHD_HTTP_NO_CONTENT;
    return ret;
}

static int append_body(httpd_req *r, const char *data, size_t n) {
    size_t max = r->d->opt.max_body;
    if (r->too_large || r->body_len + n > max) {
        r->too_large = 1;
        return AGG_OK;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = agg_realloc(r->body, cap);
        if (!b) return AGG_ERR;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return AGG_OK;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
    (void)version;
    httpd *d = cls;
    httpd_req *r = *con_cls;
    if (!r) {
        r = agg_calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->d = d;
        r->conn = c;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->cx = ci ? ci->socket_context : NULL;
        if (r->cx) r->cx->cur = r;
        conn_expect(r->cx, d->opt.body_timeout_ms); /* the headers are in; now the body */
        r->method = method;
        r->path = url;
        r->started_ns = now_ns();
        list_insert_after(&d->reqs, &r->node);
        d->n_reqs++;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > d->opt.max_body) {
            return respond_now(
                c, r, MHD_HTTP_CONTENT_TOO_LARGE,
                "{\"error\":\"payload_too_large\",\"message\":\"request body is over the limit\"}");
        }
        return MHD_YES;
    }
    if (r->answered && !r->pending) {
        /* Answered early (413) while the body still arrives: discard it. */
        if (r->drop) return MHD_NO;
        if (*upload_data_size > 0) conn_expect(r->cx, d->opt.body_timeout_ms);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        conn_expect(r->cx, d->opt.body_timeout_ms); /* progress */
        if (append_body(r, upload_data, *upload_data_size) != AGG_OK) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->cancelled || r->drop) return MHD_NO;
    if (r->pending) {
        struct MHD_Response *resp = r->pending;
        r->pending = NULL;
        enum MHD_Result ret = MHD_queue_response(c, r->pending_status, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (r->dispatched) {
        /* Resumed without an answer (spurious); park again. */
        suspend_req(r);
        return MHD_YES;
    }
    r->dispatched = 1;
    if (r->cx) r->cx->deadline = -1; /* the whole request is in: the handler's time */
    if (r->too_large)
        return respond_now(
            c, r, MHD_HTTP_CONTENT_TOO_LARGE,
            "{\"error\":\"payload_too_large\",\"message\":\"request body is over the limit\"}");
    if (strcmp(method, "OPTIONS") == 0 && d->cors_origins) return answer_preflight(r);
    r->in_handler = 1;
    d->handler(r, d->handler_arg);
    r->in_handler = 0;
    if (r->drop) return MHD_NO;
    if (!r->answered) suspend_req(r);
    return MHD_YES;
}

/* --- wiring into the loop --- */

static void on_mhd_ready(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)fd;
    (void)events;
    httpd *d = arg;
    MHD_run(d->mhd);
}

static void before_wait(loop *l, void *arg) {
    httpd *d = arg;
    if (!d->reaper) d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d);
    /* In external-epoll mode MHD is not woken by a resume made outside its
     * own callbacks, and work it has left for "as soon as possible"
     * (timeout 0) shows on no fd: run it here until it has nothing due. */
    for (int pass = 0; pass < 16; pass++) {
        long long now = loop_now_ms();
        if (d->kick || (d->mhd_due >= 0 && now >= d->mhd_due)) {
            d->kick = 0;
            MHD_run(d->mhd);
        }
        MHD_UNSIGNED_LONG_LONG ms;
        if (MHD_get_timeout(d->mhd, &ms) != MHD_YES) {
            d->mhd_due = -1;
            if (!d->kick) return;
            continue;
        }
        d->mhd_due = loop_now_ms() + (long long)ms;
        if (ms > 0 && !d->kick) {
            loop_limit_wait(l, (long long)ms);
            return;
        }
    }
    loop_limit_wait(l, 0);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    log_debug("libmicrohttpd: %s", line);
}

httpd *httpd_start(loop *l, const httpd_options *o, httpd_handler *h, void *arg, err_t *e) {
    httpd *d = agg_calloc(1, sizeof *d);
    if (!d) {
        err_nomem(e);
        return NULL;
    }
    d->l = l;
    list_init(&d->reqs);
    list_init(&d->conns);
    d->opt = *o;
    if (!d->opt.max_body) d->opt.max_body = 1024 * 1024;
    if (!d->opt.stream_buffer_limit) d->opt.stream_buffer_limit = 64 * 1024;
    if (o->cors_origins && *o->cors_origins) {
        d->cors_origins = agg_strdup(o->cors_origins);
        if (!d->cors_origins) {
            agg_free(d);
            err_nomem(e);
            return NULL;
        }
    }
    d->handler = h;
    d->handler_arg = arg;
    d->mhd_due = -1;

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    const char *bind_addr = o->bind_addr && *o->bind_addr ? o->bind_addr : "0.0.0.0";
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        err_set(e, "invalid bind address '%s'", bind_addr);
        agg_free(d->cors_origins);
        agg_free(d);
        return NULL;
    }
    struct MHD_OptionItem opts[9];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, d};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL};
    if (o->conn_memory_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)o->conn_memory_limit, NULL};
    if (o->conn_limit)
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)o->conn_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    d->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO,
        (uint16_t)o->port, NULL, NULL, on_access, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d->mhd) {
        err_set(e, "cannot listen on %s:%d (port in use or not permitted)", bind_addr, o->port);
        agg_free(d->cors_origins);
        agg_free(d);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    d->epoll_fd = di ? di->epoll_fd : -1;
    di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->port = di && di->port ? di->port : o->port;
    if (d->epoll_fd < 0) {
        err_set(e, "libmicrohttpd has no epoll fd");
    } else if (loop_watch(l, d->epoll_fd, LOOP_READ, on_mhd_ready, d, e) == AGG_OK) {
        if (loop_add_prepare(l, before_wait, d, e) == AGG_OK) {
            if ((d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d))) return d;
            err_nomem(e);
            loop_remove_prepare(l, before_wait, d);
        }
        loop_unwatch(l, d->epoll_fd);
    }
    MHD_stop_daemon(d->mhd);
    agg_free(d->cors_origins);
    agg_free(d);
    return NULL;
}

void httpd_stop(httpd *d) {
    if (!d) return;
    loop_unwatch(d->l, d->epoll_fd);
    loop_remove_prepare(d->l, before_wait, d);
    loop_timer_cancel(d->l, d->reaper);
    /* MHD closes suspended connections only after they are resumed. */
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &d->reqs) {
        httpd_req *r = list_entry(pos, httpd_req, node);
        if (r->stream) r->stream->failed = 1;
        resume_req(r);
    }
    MHD_stop_daemon(d->mhd);
    agg_free(d->cors_origins);
    agg_free(d);
}
