/* test_httpc: outbound POSTs against a tiny threaded server: statuses, closes, timeouts, load. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc.h"

/* --- test server: one thread per connection, keep-alive, answers by path --- */

typedef struct server {
    int fd;
    int port;
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int conns_open;     /* connection threads still running */
    int conns_accepted; /* connections accepted in total */
} server;

typedef struct conn {
    server *s;
    int fd;
} conn;

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void respond(int fd, int status, const char *ctype, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status,
                     ctype, len);
    if (write_all(fd, head, (size_t)n) == 0) write_all(fd, body, len);
}

/* Reads one request into buf (headers + body). Returns its total length, 0 on EOF. */
static size_t read_request(int fd, char *buf, size_t cap, size_t *have, char *path, size_t path_cap,
                           char *ctype, size_t ctype_cap, const char **body, size_t *body_len) {
    for (;;) {
        buf[*have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head_len = (size_t)(end - buf) + 4;
            size_t clen = 0;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < end) clen = strtoul(cl + 17, NULL, 10);
            if (*have >= head_len + clen) {
                sscanf(buf, "%*s %255s", path);
                (void)path_cap;
                ctype[0] = '\0';
                const char *ct = strcasestr(buf, "\r\nContent-Type:");
                if (ct && ct < end) {
                    ct += 15;
                    while (*ct == ' ') ct++;
                    size_t i = 0;
                    while (ct[i] && ct[i] != '\r' && i + 1 < ctype_cap) {
                        ctype[i] = ct[i];
                        i++;
                    }
                    ctype[i] = '\0';
                }
                *body = buf + head_len;
                *body_len = clen;
                return head_len + clen;
            }
        }
        if (*have + 1 >= cap) return 0;
        ssize_t r = recv(fd, buf + *have, cap - 1 - *have, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        *have += (size_t)r;
    }
}

static void *conn_main(void *arg) {
    conn *c = arg;
    size_t cap = 65536, have = 0;
    char *buf = malloc(cap);
    char path[256], ctype[128];
    int keep = buf != NULL;
    while (keep) {
        const char *body;
        size_t body_len;
        size_t used = read_request(c->fd, buf, cap, &have, path, sizeof path, ctype, sizeof ctype,
                                   &body, &body_len);
        if (used == 0) break;
        if (strcmp(path, "/ok") == 0) {
            respond(c->fd, 200, "application/json", "{\"ok\":true}", 11);
        } else if (strcmp(path, "/echo") == 0) {
            char out[4096];
            int n = snprintf(out, sizeof out, "%s|%.*s", ctype, (int)body_len, body);
            respond(c->fd, 200, "text/plain", out, (size_t)n);
        } else if (strcmp(path, "/head") == 0) {
            respond(c->fd, 200, "text/plain", buf, (size_t)(body - buf)); /* the request's head */
        } else if (strcmp(path, "/401") == 0) {
            respond(c->fd, 401, "application/json", "{}", 2);
        } else if (strcmp(path, "/500") == 0) {
            respond(c->fd, 500, "application/json", "{}", 2);
        } else if (strcmp(path, "/302") == 0) {
            static const char head[] = "HTTP/1.1 302 Found\r\nLocation: /ok\r\n"
                                       "Content-Length: 0\r\n\r\n";
            write_all(c->fd, head, sizeof head - 1);
        } else if (strcmp(path, "/big") == 0 || strcmp(path, "/64k") == 0) {
            size_t n = strcmp(path, "/big") == 0 ? 2 * 1024 * 1024 : 64 * 1024;
            char *big = malloc(n);
            if (big) {
                memset(big, 'x', n);
                respond(c->fd, 200, "text/plain", big, n);
                free(big);
            }
        } else if (strcmp(path, "/slow") == 0) {
            /* Never answer: wait until the client gives up and closes. */
            char sink[256];
            while (recv(c->fd, sink, sizeof sink, 0) > 0) {
            }
            keep = 0;
        } else {
            keep = 0; /* /close and anything unknown: close without answering */
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    free(buf);
    close(c->fd);
    pthread_mutex_lock(&c->s->mu);
    c->s->conns_open--;
    pthread_cond_broadcast(&c->s->cv);
    pthread_mutex_unlock(&c->s->mu);
    free(c);
    return NULL;
}

static void *accept_main(void *arg) {
    server *s = arg;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL; /* shutdown() of the listener */
        }
        conn *c = malloc(sizeof *c);
        if (!c) abort();
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        s->conns_open++;
        s->conns_accepted++;
        pthread_mutex_unlock(&s->mu);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, c) != 0) abort();
        pthread_attr_destroy(&attr);
    }
}

static int bound_socket(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static server *server_start(void) {
    server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->fd = bound_socket(&s->port);
    assert_int_equal(listen(s->fd, 512), 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    assert_int_equal(pthread_create(&s->accept_thread, NULL, accept_main, s), 0);
    return s;
}

/* Stops accepting, then waits (bounded) for connection threads to finish;
 * they end when the client side has closed its connections. */
static void server_stop(server *s) {
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->accept_thread, NULL);
    close(s->fd);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&s->mu);
    while (s->conns_open > 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
    int left = s->conns_open;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(left, 0);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* --- client side --- */

/* The callbacks stop the loop of the running test. */
static loop *cur_loop;
static int deadline_hit;

typedef struct result {
    int calls;
    transport_t transport;
    long status;
    size_t body_len;
    char body[1024];
    int *outstanding; /* shared countdown; the loop stops at 0 */
} result;

static void on_done(const httpc_result *res, void *arg) {
    result *r = arg;
    r->calls++;
    r->transport = res->transport;
    r->status = res->status;
    r->body_len = res->body_len;
    assert_non_null(res->body);
    assert_non_null(res->error);
    snprintf(r->body, sizeof r->body, "%s", res->body);
    if (--*r->outstanding == 0) loop_stop(cur_loop);
}

static void on_deadline(loop *l, void *arg) {
    (void)arg;
    deadline_hit = 1;
    loop_stop(l);
}

/* Runs the loop until the callbacks stop it or deadline_ms passes. */
static void run_until(loop *l, long long deadline_ms) {
    deadline_hit = 0;
    loop_timer *t = loop_timer_add(l, deadline_ms, on_deadline, NULL);
    assert_non_null(t);
    assert_int_equal(loop_run(l), AGG_OK);
    if (!deadline_hit) loop_timer_cancel(l, t);
    assert_false(deadline_hit);
}

typedef struct fixture {
    server *s;
    loop *l;
    httpc *c;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->s = server_start();
    err_t e = {0};
    f->l = loop_new(&e);
    assert_non_null(f->l);
    cur_loop = f->l;
    f->c = httpc_new(f->l, &e);
    assert_non_null(f->c);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    httpc_free(f->c);
    loop_free(f->l);
    server_stop(f->s);
    free(f);
    return 0;
}

static void url_for(const fixture *f, const char *path, char *out, size_t cap) {
    snprintf(out, cap, "http://127.0.0.1:%d%s", f->s->port, path);
}

static void post_and_wait(fixture *f, const char *path, long connect_ms, long total_ms, result *r) {
    char url[128];
    url_for(f, path, url, sizeof url);
    int outstanding = 1;
    memset(r, 0, sizeof *r);
    r->outstanding = &outstanding;
    err_t e = {0};
    assert_int_equal(httpc_post_json(f->c, url, "{\"a\":1}", connect_ms, total_ms, on_done, r, &e),
                     AGG_OK);
    assert_int_equal(httpc_in_flight(f->c), 1);
    run_until(f->l, 10000);
    assert_int_equal(r->calls, 1);
    assert_int_equal(httpc_in_flight(f->c), 0);
}

static void status_codes_are_reported(void **state) {
    fixture *f = *state;
    result r;
    post_and_wait(f, "/ok", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ok\":true}");
    post_and_wait(f, "/401", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 401);
    post_and_wait(f, "/500", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 500);
}

static void posts_json_body_with_content_type(void **state) {
    fixture *f = *state;
    result r;
    post_and_wait(f, "/echo", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "application/json|{\"a\":1}");
}

/* The extra header is sent along with the shared ones; a request without it sends none. */
static void extra_header_is_sent(void **state) {
    fixture *f = *state;
    result r;
    char url[128];
    url_for(f, "/head", url, sizeof url);
    int outstanding = 1;
    memset(&r, 0, sizeof r);
    r.outstanding = &outstanding;
    const char *tp = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_int_equal(httpc_post_json_header(f->c, url, "{}", tp, 1000, 5000, on_done, &r, NULL),
                     AGG_OK);
    run_until(f->l, 10000);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_non_null(strstr(r.body, "Content-Type: application/json\r\n"));
    post_and_wait(f, "/head", 1000, 5000, &r);
    assert_null(strstr(r.body, "traceparent"));
    err_t e = {0};
    assert_int_equal(httpc_post_json_header(f->c, url, "{}", "a: b\r\nInjected: x", 1000, 5000,
                                            on_done, &r, &e),
                     AGG_ERR);
    assert_int_equal(httpc_post_json_header(f->c, url, "{}", "no colon", 1000, 5000, on_done, &r,
                                            &e),
                     AGG_ERR);
}

static void keep_alive_reuses_connection(void **state) {
    fixture *f = *state;
    result r;
    for (int i = 0; i < 5; i++) {
        post_and_wait(f, "/ok", 1000, 5000, &r);
        assert_int_equal(r.status, 200);
    }
    pthread_mutex_lock(&f->s->mu);
    int accepted = f->s->conns_accepted;
    pthread_mutex_unlock(&f->s->mu);
    assert_int_equal(accepted, 1);
}

static void host_names_are_resolved(void **state) {
    fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/ok", f->s->port);
    int outstanding = 1;
    result r = {.outstanding = &outstanding};
    assert_int_equal(httpc_post_json(f->c, url, "{}", 1000, 5000, on_done, &r, NULL), AGG_OK);
    run_until(f->l, 10000);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 200);
}

static void close_without_answer_is_closed(void **state) {
    fixture *f = *state;
    result r;
    post_and_wait(f, "/close", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_CLOSED);
    assert_int_equal(r.status, 0);
}

static void slow_answer_times_out(void **state) {
    fixture *f = *state;
    result r;
    long long t0 = loop_now_ms();
    post_and_wait(f, "/slow", 1000, 200, &r);
    assert_int_equal(r.transport, TRANSPORT_TIMEOUT);
    assert_int_equal(r.status, 0);
    /* The timeout was honoured: not before it, and well before the 10 s deadline. */
    assert_true(loop_now_ms() - t0 >= 200);
}

static void nothing_listening_is_connect_failed(void **state) {
    fixture *f = *state;
    int port;
    int fd = bound_socket(&port); /* bound, never listening: connections are refused */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", port);
    int outstanding = 1;
    result r = {.outstanding = &outstanding};
    assert_int_equal(httpc_post_json(f->c, url, "{}", 1000, 5000, on_done, &r, NULL), AGG_OK);
    run_until(f->l, 10000);
    close(fd);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.transport, TRANSPORT_CONNECT_FAILED);
    assert_int_equal(r.status, 0);
}

/* 64 KiB is read whole; one byte more ends the transfer instead of reading on. */
static void big_body_ends_the_transfer(void **state) {
    fixture *f = *state;
    result r;
    post_and_wait(f, "/64k", 1000, 10000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 64 * 1024);
    post_and_wait(f, "/big", 1000, 10000, &r);
    assert_int_equal(r.transport, TRANSPORT_OTHER);
    assert_int_equal(r.status, 200);
    post_and_wait(f, "/ok", 1000, 5000, &r); /* the client goes on */
    assert_int_equal(r.transport, TRANSPORT_OK);
}

/* A redirect is the answer: not followed to /ok. */
static void redirect_is_not_followed(void **state) {
    fixture *f = *state;
    result r;
    post_and_wait(f, "/302", 1000, 5000, &r);
    assert_int_equal(r.transport, TRANSPORT_OK);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.body, "");
}

static void many_concurrent_requests_complete_once(void **state) {
    fixture *f = *state;
    enum { N = 300 };
    static const char *const paths[] = {"/ok", "/401", "/500", "/close", "/slow", "/echo"};
    static const transport_t want_t[] = {TRANSPORT_OK,     TRANSPORT_OK,      TRANSPORT_OK,
                                         TRANSPORT_CLOSED, TRANSPORT_TIMEOUT, TRANSPORT_OK};
    static const long want_s[] = {200, 401, 500, 0, 0, 200};
    result *rs = calloc(N, sizeof *rs);
    assert_non_null(rs);
    int outstanding = N;
    for (int i = 0; i < N; i++) {
        char url[128];
        url_for(f, paths[i % 6], url, sizeof url);
        rs[i].outstanding = &outstanding;
        assert_int_equal(httpc_post_json(f->c, url, "{}", 2000, 3000, on_done, &rs[i], NULL),
                         AGG_OK);
    }
    assert_int_equal(httpc_in_flight(f->c), N);
    run_until(f->l, 20000);
    assert_int_equal(outstanding, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].transport, want_t[i % 6]);
        assert_int_equal(rs[i].status, want_s[i % 6]);
    }
    assert_int_equal(httpc_in_flight(f->c), 0);
    free(rs);
}

/* A done callback that starts the next request and frees its own arg. */
typedef struct chain {
    fixture *f;
    int left;
    int *completed;
} chain;

static void on_chain(const httpc_result *res, void *arg) {
    chain *ch = arg;
    assert_int_equal(res->transport, TRANSPORT_OK);
    assert_int_equal(res->status, 200);
    (*ch->completed)++;
    if (ch->left > 0) {
        chain *next = malloc(sizeof *next);
        assert_non_null(next);
        *next = *ch;
        next->left--;
        char url[128];
        url_for(ch->f, "/ok", url, sizeof url);
        assert_int_equal(httpc_post_json(ch->f->c, url, "{}", 1000, 5000, on_chain, next, NULL),
                         AGG_OK);
    } else {
        loop_stop(ch->f->l);
    }
    free(ch);
}

static void callback_may_start_requests_and_free_arg(void **state) {
    fixture *f = *state;
    int completed = 0;
    chain *ch = malloc(sizeof *ch);
    assert_non_null(ch);
    *ch = (chain){f, 9, &completed};
    char url[128];
    url_for(f, "/ok", url, sizeof url);
    assert_int_equal(httpc_post_json(f->c, url, "{}", 1000, 5000, on_chain, ch, NULL), AGG_OK);
    run_until(f->l, 10000);
    assert_int_equal(completed, 10);
}

static void on_never(const httpc_result *res, void *arg) {
    (void)res;
    (void)arg;
    fail_msg("done must not run after httpc_free");
}

static void free_aborts_in_flight_without_callbacks(void **state) {
    fixture *f = *state;
    char url[128];
    url_for(f, "/slow", url, sizeof url);
    for (int i = 0; i < 3; i++)
        assert_int_equal(httpc_post_json(f->c, url, "{}", 1000, 60000, on_never, NULL, NULL),
                         AGG_OK);
    /* Let the connections open, then free with the requests in flight. */
    deadline_hit = 0;
    loop_timer_add(f->l, 100, on_deadline, NULL);
    loop_run(f->l);
    assert_int_equal(httpc_in_flight(f->c), 3);
    httpc_free(f->c);
    f->c = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_codes_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(extra_header_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(posts_json_body_with_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_reuses_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(host_names_are_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(close_without_answer_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_answer_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_listening_is_connect_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(big_body_ends_the_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(redirect_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(many_concurrent_requests_complete_once, setup, teardown),
        cmocka_unit_test_setup_teardown(callback_may_start_requests_and_free_arg, setup, teardown),
        cmocka_unit_test_setup_teardown(free_aborts_in_flight_without_callbacks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
