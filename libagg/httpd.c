/* httpd: libmicrohttpd on the event loop; requests, deferred answers and SSE streams. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "cors.h"
#include "httpd_int.h"
#include "err.h"
#include "list.h"
#include "log.h"
#include "tlsserve.h"

/* The connection's socket into *fd; AGG_ERR when MHD does not give it. */
static int conn_fd(struct MHD_Connection *c, int *fd) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return AGG_ERR;
    *fd = ci->connect_fd;
    return AGG_OK;
}

static void on_peer_hangup(loop *l, int fd, unsigned events, void *arg);

static void peer_gone(httpd_req *r);

void httpd_req_suspend(httpd_req *r) {
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

void httpd_req_resume(httpd_req *r) {
    if (!r->suspended) return;
    r->suspended = 0;
    r->m->kick = 1;
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
    httpd_req_resume(r);
}

void httpd_add_common_headers(httpd_req *r, struct MHD_Response *resp) {
    cors_add_headers(resp, r->d->cors_origins,
                     MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin"), 0);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

void httpd_queue_or_defer(httpd_req *r, unsigned status, struct MHD_Response *resp) {
    r->answered = 1;
    r->status = status;
    if (r->in_handler) {
        MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
        return;
    }
    r->pending = resp;
    r->pending_status = status;
    httpd_req_resume(r);
}

/* No response could be made (out of memory): the connection is closed without one. */
static void drop_unanswerable(httpd_req *r) {
    r->drop = 1;
    r->answered = 1;
    if (!r->in_handler) httpd_req_resume(r);
}

void httpd_respond_headers(httpd_req *r, int status, const char *content_type, const char *body,
                           const char *const *headers, size_t n_pairs) {
    if (r->answered || r->cancelled) return;
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        drop_unanswerable(r);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type ? content_type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; i < n_pairs; i++)
        if (headers[2 * i] && headers[2 * i + 1])
            MHD_add_response_header(resp, headers[2 * i], headers[2 * i + 1]);
    httpd_add_common_headers(r, resp);
    httpd_queue_or_defer(r, (unsigned)status, resp);
}

void httpd_respond_static(httpd_req *r, int status, const char *content_type, const void *body,
                          size_t len, const char *const *headers, size_t n_pairs) {
    if (r->answered || r->cancelled) return;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        drop_unanswerable(r);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type ? content_type : "application/json");
    for (size_t i = 0; i < n_pairs; i++)
        if (headers[2 * i] && headers[2 * i + 1])
            MHD_add_response_header(resp, headers[2 * i], headers[2 * i + 1]);
    httpd_queue_or_defer(r, (unsigned)status, resp);
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

void httpd_respond_error_header(httpd_req *r, const api_error *e, const char *header,
                                const char *value) {
    char *body = apierr_to_json(e, NULL);
    httpd_respond_header(r, e->http_status, NULL,
                         body ? body : "{\"error\":\"internal\",\"message\":\"out of memory\"}",
                         header, value);
    agg_free(body);
}

void httpd_respond_error_retry(httpd_req *r, const api_error *e, int retry_after_s) {
    char v[24];
    snprintf(v, sizeof v, "%d", retry_after_s);
    httpd_respond_error_header(r, e, retry_after_s >= 0 ? "Retry-After" : NULL, v);
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
    if (!r->in_handler) httpd_req_resume(r);
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

size_t httpd_stream_count(const httpd *d) { return d->n_streams; }
size_t httpd_request_count(const httpd *d) { return d->n_reqs; }
unsigned long long httpd_reaped_count(const httpd *d) { return d->reaped; }
unsigned long long httpd_overflow_count(const httpd *d) { return d->overflowed; }
unsigned httpd_listener_count(const httpd *d) { return d->n_mhds; }
size_t httpd_listener_streams(const httpd *d, unsigned i) {
    return i < d->n_mhds ? d->mhds[i].n_streams : 0;
}

unsigned httpd_overflow_margin(unsigned conn_limit) {
    unsigned m = conn_limit / 100;
    return m < 8 ? 8 : m > 64 ? 64 : m;
}

/* --- connection deadlines --- */

void httpd_conn_expect(httpd_conn *cx, long timeout_ms) {
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
        cx->m->kick = 1;
    }
    /* NULL (out of memory): before_wait tries again. */
    d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d);
}
int httpd_port(const httpd *d) { return d->port; }

/* --- MHD callbacks --- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    httpd_mhd *m = cls;
    httpd *d = m->d;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* NULL: served without a hang-up watch or a deadline */
        httpd_conn *cx = agg_calloc(1, sizeof *cx);
        if (cx && conn_fd(c, &cx->fd) != AGG_OK) cx->fd = -1; /* served without the watch */
        if (cx) {
            cx->m = m;
            list_insert_before(&d->conns, &cx->node);
            httpd_conn_expect(cx, d->opt.header_timeout_ms);
            d->n_conns++;
            m->n_conns++;
            cx->over = d->opt.conn_limit && d->n_conns > d->opt.conn_limit;
        }
        *socket_context = cx;
        return;
    }
    httpd_conn *cx = *socket_context;
    if (!cx) return;
    *socket_context = NULL;
    d->n_conns--;
    m->n_conns--;
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
        httpd_conn_expect(r->cx, r->d->opt.idle_timeout_ms);
    }
    r->d->n_reqs--;
    if (r->d->opt.on_done && (r->dispatched || r->answered)) {
        httpd_done done = {r->method, r->path, r->route,
                           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"),
                           r->drop ? 0 : (int)r->status,
                           (double)(loop_now_ns() - r->started_ns) / 1e9};
        r->d->opt.on_done(&done, r->d->opt.on_done_arg);
    }
    if (r->pending) MHD_destroy_response(r->pending);
    if (r->stream) {
        httpd_stream *s = r->stream;
        r->d->n_streams--;
        r->m->n_streams--;
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

static const char TOO_LARGE[] =
    "{\"error\":\"payload_too_large\",\"message\":\"request body is over the limit\"}";

static enum MHD_Result respond_now(struct MHD_Connection *c, httpd_req *r, unsigned status,
                                   const char *body) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r) httpd_add_common_headers(r, resp);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (r) r->answered = 1, r->status = status;
    return ret;
}

/* A request on a connection beyond conn_limit: a status the client can act on, then the
 * connection closes (so the count falls back under the limit). */
static enum MHD_Result respond_overflow(struct MHD_Connection *c, httpd_req *r) {
    static const char body[] =
        "{\"error\":\"too_many_connections\",\"message\":\"this server holds as many "
        "connections as it may (MAX_CONNECTIONS); retry\"}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Retry-After", "1");
    MHD_add_response_header(resp, "Connection", "close");
    httpd_add_common_headers(r, resp);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
    MHD_destroy_response(resp);
    r->answered = 1, r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    r->d->overflowed++;
    return ret;
}

static enum MHD_Result answer_preflight(httpd_req *r) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    cors_add_headers(resp, r->d->cors_origins,
                     MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin"), 1);
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
    httpd_mhd *m = cls;
    httpd *d = m->d;
    httpd_req *r = *con_cls;
    if (!r) {
        r = agg_calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->d = d;
        r->m = m;
        r->conn = c;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->cx = ci ? ci->socket_context : NULL;
        if (r->cx) r->cx->cur = r;
        httpd_conn_expect(r->cx, d->opt.body_timeout_ms); /* the headers are in; now the body */
        r->method = method;
        r->path = url;
        r->started_ns = loop_now_ns();
        list_insert_after(&d->reqs, &r->node);
        d->n_reqs++;
        *con_cls = r;
        const char *exempt = d->opt.overflow_exempt_prefix;
        if (r->cx && r->cx->over && !(exempt && strncmp(url, exempt, strlen(exempt)) == 0))
            return respond_overflow(c, r);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > d->opt.max_body) {
            return respond_now(c, r, MHD_HTTP_CONTENT_TOO_LARGE, TOO_LARGE);
        }
        return MHD_YES;
    }
    if (r->answered && !r->pending) {
        /* Answered early (413) while the body still arrives: discard it. */
        if (r->drop) return MHD_NO;
        if (*upload_data_size > 0) httpd_conn_expect(r->cx, d->opt.body_timeout_ms);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        httpd_conn_expect(r->cx, d->opt.body_timeout_ms); /* progress */
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
        httpd_req_suspend(r);
        return MHD_YES;
    }
    r->dispatched = 1;
    if (r->cx) r->cx->deadline = -1; /* the whole request is in: the handler's time */
    if (r->too_large)
        return respond_now(c, r, MHD_HTTP_CONTENT_TOO_LARGE, TOO_LARGE);
    if (strcmp(method, "OPTIONS") == 0 && d->cors_origins) return answer_preflight(r);
    r->in_handler = 1;
    d->handler(r, d->handler_arg);
    r->in_handler = 0;
    if (r->drop) return MHD_NO;
    if (!r->answered) httpd_req_suspend(r);
    return MHD_YES;
}

/* --- wiring into the loop --- */

static void on_mhd_ready(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)fd;
    (void)events;
    httpd_mhd *m = arg;
    MHD_run(m->mhd);
    m->ran = 1;
}

/* One daemon's part of before_wait: runs it when kicked or due; returns how long the loop may
 * wait for it (ms, -1 = no limit). A daemon with no resume and nothing due is not run, nor
 * asked for its timeout: the passes after a resume walk only that daemon's suspended
 * connections, and an idle daemon costs next to nothing. */
static long long settle_mhd(httpd_mhd *m) {
    /* In external-epoll mode MHD is not woken by a resume made outside its
     * own callbacks, and work it has left for "as soon as possible"
     * (timeout 0) shows on no fd: run it here until it has nothing due. */
    for (int pass = 0; pass < 16; pass++) {
        if (m->kick || (m->mhd_due >= 0 && loop_now_ms() >= m->mhd_due)) {
            m->kick = 0;
            MHD_run(m->mhd);
            m->ran = 1;
        }
        if (m->ran) {
            m->ran = 0;
            MHD_UNSIGNED_LONG_LONG ms;
            m->mhd_due =
                MHD_get_timeout(m->mhd, &ms) == MHD_YES ? loop_now_ms() + (long long)ms : -1;
        }
        if (m->kick) continue;
        if (m->mhd_due < 0) return -1;
        long long left = m->mhd_due - loop_now_ms();
        if (left > 0) return left;
    }
    return 0;
}

static void before_wait(loop *l, void *arg) {
    httpd *d = arg;
    if (!d->reaper) d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d);
    long long wait = -1;
    for (unsigned i = 0; i < d->n_mhds; i++) {
        long long w = settle_mhd(&d->mhds[i]);
        if (w >= 0 && (wait < 0 || w < wait)) wait = w;
    }
    if (wait >= 0) loop_limit_wait(l, wait);
}

/* libmicrohttpd's own limit is per daemon: this one counts every daemon's connections, so
 * that conn_limit and its margin hold for the server as a whole. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    (void)addr;
    (void)addrlen;
    const httpd *d = cls;
    unsigned lim = d->opt.conn_limit;
    return lim && d->n_conns >= (size_t)lim + httpd_overflow_margin(lim) ? MHD_NO : MHD_YES;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    log_debug("libmicrohttpd: %s", line);
}

/* Whether another socket holds sa's port. With SO_REUSEPORT a second server of this user on
 * the same port would bind too and silently take half of the connections; a probe without
 * it fails on any holder, as a lone daemon's bind does. */
static int port_taken(const struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0; /* the daemons' own bind reports it */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as libmicrohttpd does */
    int taken = bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

/* Unhooks the daemons from the loop and stops them, then frees the array. */
static void stop_mhds(httpd *d) {
    if (d->prepared) loop_remove_prepare(d->l, before_wait, d);
    d->prepared = 0;
    for (unsigned i = 0; i < d->n_mhds; i++) {
        loop_unwatch(d->l, d->mhds[i].epoll_fd);
        MHD_stop_daemon(d->mhds[i].mhd);
    }
    agg_free(d->mhds);
    d->mhds = NULL;
    d->n_mhds = 0;
}

/* Starts daemon m on sa and hooks it into the loop; sets d->port when it was 0. */
static int start_mhd(httpd *d, httpd_mhd *m, const struct sockaddr_in *sa, int reuse,
                     const char *bind_addr, err_t *e) {
    const httpd_options *o = &d->opt;
    m->d = d;
    m->mhd_due = -1;
    m->epoll_fd = -1;
    m->ran = 1; /* its timeout is still to be read */
    struct MHD_OptionItem opts[10 + TLSSERVE_MHD_OPTIONS];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, m};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL};
    if (o->conn_memory_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)o->conn_memory_limit, NULL};
    if (o->conn_limit)
        opts[n++] = (struct MHD_OptionItem){
            MHD_OPTION_CONNECTION_LIMIT,
            (intptr_t)(o->conn_limit + httpd_overflow_margin(o->conn_limit)), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL};
    if (reuse) opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    if (o->tls) n += (int)tlsserve_mhd_options(o->tls, opts + n);
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    m->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO |
            (o->tls ? MHD_USE_TLS : 0),
        (uint16_t)ntohs(sa->sin_port), accept_policy, d, on_access, m,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)sa, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!m->mhd)
        return err_set(e, "cannot listen on %s:%d (port in use or not permitted%s)", bind_addr,
                       d->port, o->tls ? ", or TLS refused" : "");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int efd = di ? di->epoll_fd : -1;
    di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!d->port && di && di->port) d->port = di->port;
    if (efd < 0) {
        err_set(e, "libmicrohttpd has no epoll fd");
    } else if (loop_watch(d->l, efd, LOOP_READ, on_mhd_ready, m, e) == AGG_OK) {
        m->epoll_fd = efd;
        return AGG_OK;
    }
    MHD_stop_daemon(m->mhd);
    return AGG_ERR;
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

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    const char *bind_addr = o->bind_addr && *o->bind_addr ? o->bind_addr : "0.0.0.0";
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        err_set(e, "invalid bind address '%s'", bind_addr);
        goto fail;
    }
    unsigned n_mhds = o->listeners ? o->listeners : 1;
    if (n_mhds > HTTPD_MAX_LISTENERS) n_mhds = HTTPD_MAX_LISTENERS;
    if (n_mhds > 1 && o->port && port_taken(&sa)) {
        err_set(e, "cannot listen on %s:%d (port in use)", bind_addr, o->port);
        goto fail;
    }
    if (!(d->mhds = agg_calloc(n_mhds, sizeof *d->mhds))) {
        err_nomem(e);
        goto fail;
    }
    d->port = o->port;
    for (unsigned i = 0; i < n_mhds; i++) {
        /* The first daemon binds (port 0: a free one); the others join its port. */
        if (start_mhd(d, &d->mhds[i], &sa, n_mhds > 1, bind_addr, e) != AGG_OK) goto fail;
        d->n_mhds++;
        sa.sin_port = htons((uint16_t)d->port);
    }
    if (loop_add_prepare(l, before_wait, d, e) != AGG_OK) goto fail;
    d->prepared = 1;
    if ((d->reaper = loop_timer_add(l, reap_tick_ms(&d->opt), reap, d))) return d;
    err_nomem(e);
fail:
    stop_mhds(d);
    agg_free(d->cors_origins);
    agg_free(d);
    return NULL;
}

void httpd_stop(httpd *d) {
    if (!d) return;
    loop_timer_cancel(d->l, d->reaper);
    /* MHD closes suspended connections only after they are resumed. */
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &d->reqs) {
        httpd_req *r = list_entry(pos, httpd_req, node);
        if (r->stream) r->stream->failed = 1;
        httpd_req_resume(r);
    }
    stop_mhds(d);
    agg_free(d->cors_origins);
    agg_free(d);
}
