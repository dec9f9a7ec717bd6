/* test_httpd_listeners: several libmicrohttpd daemons on one port: connections spread, each daemon's streams served, the connection limit counted over all. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd.h"

#define LISTENERS 4
#define MAXC 64

typedef struct server {
    loop *l;
    httpd *d;
    httpd_stream *streams[MAXC];
    int n_streams;
} server;

typedef struct client {
    int fd;
    char buf[512];
    size_t len;
    int eof;
} client;

static server srv;
static client cl[MAXC];
static int n_cl;

static void on_stream_closed(void *arg) {
    httpd_stream **slot = arg;
    *slot = NULL;
}

/* Every request opens a stream that stays idle (suspended) until the test writes. */
static void handler(httpd_req *r, void *arg) {
    server *s = arg;
    if (s->n_streams >= MAXC) {
        httpd_respond(r, 500, NULL, "{}");
        return;
    }
    httpd_stream **slot = &s->streams[s->n_streams++];
    *slot = httpd_stream_open(r, NULL, on_stream_closed, slot, NULL);
}

static void start(unsigned conn_limit) {
    memset(&srv, 0, sizeof srv);
    srv.l = loop_new(NULL);
    assert_non_null(srv.l);
    httpd_options o = {.bind_addr = "127.0.0.1", .listeners = LISTENERS,
                       .conn_limit = conn_limit};
    srv.d = httpd_start(srv.l, &o, handler, &srv, NULL);
    assert_non_null(srv.d);
    assert_int_equal(httpd_listener_count(srv.d), LISTENERS);
}

static void stop(void) {
    for (int i = 0; i < n_cl; i++) close(cl[i].fd);
    n_cl = 0;
    httpd_stop(srv.d);
    loop_free(srv.l);
}

/* Opens n connections (the kernel queues them on the daemons' sockets until the loop runs). */
static void connect_clients(int n) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)httpd_port(srv.d))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(cl[i].fd >= 0);
        int rc = connect(cl[i].fd, (struct sockaddr *)&sa, sizeof sa);
        assert_true(rc == 0 || errno == EINPROGRESS);
        n_cl++;
    }
}

static void send_request(client *c) {
    static const char req[] = "GET /s HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(write(c->fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
}

static void read_clients(void) {
    for (int i = 0; i < n_cl; i++) {
        client *c = &cl[i];
        while (!c->eof && c->len < sizeof c->buf - 1) {
            ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
            if (n > 0) {
                c->len += (size_t)n;
                c->buf[c->len] = '\0';
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->eof = 1;
            } else {
                break;
            }
        }
    }
}

typedef int cond_fn(void *arg);
typedef struct waiter {
    cond_fn *cond;
    void *arg;
    int met;
    loop_timer *t;
} waiter;

static void poll_cond(loop *l, void *arg) {
    waiter *w = arg;
    read_clients();
    if ((w->met = w->cond(w->arg))) {
        w->t = NULL;
        loop_stop(l);
        return;
    }
    w->t = loop_timer_add(l, 5, poll_cond, w);
}

static void on_deadline(loop *l, void *arg) {
    *(loop_timer **)arg = NULL;
    loop_stop(l);
}

/* Runs the loop until cond holds, at most 10 s; returns whether it held. */
static int run_until(cond_fn *cond, void *arg) {
    waiter w = {cond, arg, 0, NULL};
    loop_timer *deadline = loop_timer_add(srv.l, 10000, on_deadline, &deadline);
    w.t = loop_timer_add(srv.l, 0, poll_cond, &w);
    loop_run(srv.l);
    if (deadline) loop_timer_cancel(srv.l, deadline);
    if (w.t) loop_timer_cancel(srv.l, w.t);
    return w.met;
}

static int streams_open(void *arg) { return (int)httpd_stream_count(srv.d) == *(int *)arg; }

/* Every client has its own event (the stream's index) after the 200's headers. */
static int events_delivered(void *arg) {
    (void)arg;
    for (int i = 0; i < n_cl; i++) {
        if (!strstr(cl[i].buf, "data: ")) return 0;
    }
    return 1;
}

static void connections_spread_over_the_daemons_and_each_serves_its_streams(void **state) {
    (void)state;
    start(0);
    int n = MAXC;
    connect_clients(n);
    for (int i = 0; i < n; i++) send_request(&cl[i]);
    assert_true(run_until(streams_open, &n));
    /* The kernel hashes each connection to a daemon: 64 over 4 leave one empty with a
     * probability of 4 * 0.75^64, 4e-8. */
    size_t total = 0;
    for (unsigned i = 0; i < LISTENERS; i++) {
        assert_true(httpd_listener_streams(srv.d, i) > 0);
        total += httpd_listener_streams(srv.d, i);
    }
    assert_int_equal(total, (size_t)n);
    for (int i = 0; i < n; i++) {
        char ev[32];
        int len = snprintf(ev, sizeof ev, "data: %d\n\n", i);
        assert_non_null(srv.streams[i]);
        assert_int_equal(httpd_stream_write(srv.streams[i], ev, (size_t)len, NULL), AGG_OK);
    }
    assert_true(run_until(events_delivered, NULL));
    /* Each stream's event reached one client and no other. */
    int seen[MAXC] = {0};
    for (int i = 0; i < n; i++) {
        assert_non_null(strstr(cl[i].buf, "200 OK"));
        int k = atoi(strstr(cl[i].buf, "data: ") + 6);
        assert_true(k >= 0 && k < n);
        seen[k]++;
    }
    for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    stop();
}

static int closed_count(void) {
    int k = 0;
    for (int i = 0; i < n_cl; i++) k += cl[i].eof;
    return k;
}

static int n_closed(void *arg) { return closed_count() == *(int *)arg; }

static int all_answered(void *arg) {
    (void)arg;
    for (int i = 0; i < n_cl; i++)
        if (!cl[i].eof && !strstr(cl[i].buf, " 200 ")) return 0; /* a 503 closes */
    return 1;
}

static void connection_limit_counts_every_daemon(void **state) {
    (void)state;
    unsigned limit = 8, margin = httpd_overflow_margin(8); /* 8 */
    start(limit);
    int n = (int)(limit + margin) + 8;
    connect_clients(n);
    /* Without requests nothing closes but what the limit refuses: each daemon alone would
     * take limit + margin. */
    int refused = n - (int)(limit + margin);
    assert_true(run_until(n_closed, &refused));
    for (int i = 0; i < n; i++)
        if (!cl[i].eof) send_request(&cl[i]);
    assert_true(run_until(all_answered, NULL));
    int ok = 0, over = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(cl[i].buf, " 200 ")) ok++;
        if (strstr(cl[i].buf, " 503 ") && strstr(cl[i].buf, "too_many_connections")) over++;
    }
    assert_int_equal(ok, (int)limit);
    assert_int_equal(over, (int)margin);
    stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connections_spread_over_the_daemons_and_each_serves_its_streams),
        cmocka_unit_test(connection_limit_counts_every_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
