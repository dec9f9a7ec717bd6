/* test_httpd: immediate, deferred and dropped answers, streams, 413, CORS, hang-up detection, connection deadlines. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cors.h"
#include "httpd.h"

typedef struct server {
    loop *l;
    httpd *d;
    int stream_closed;
    httpd_stream *stream;
    int writes;
    int n_done; /* requests reported finished through on_done */
    httpd_done last_done;
    char last_route[64], last_method[16], last_traceparent[64];
} server;

static void record_done(const httpd_done *d, void *arg) {
    server *s = arg;
    s->n_done++;
    s->last_done = *d;
    snprintf(s->last_route, sizeof s->last_route, "%s", d->route ? d->route : "(none)");
    snprintf(s->last_method, sizeof s->last_method, "%s", d->method);
    snprintf(s->last_traceparent, sizeof s->last_traceparent, "%s",
             d->traceparent ? d->traceparent : "(none)");
}

typedef struct deferred {
    server *srv;
    httpd_req *r;
} deferred;

static void answer_later(loop *l, void *arg) {
    (void)l;
    deferred *d = arg;
    httpd_respond(d->r, 200, NULL, "{\"later\":true}");
    free(d);
}

static void on_stream_closed(void *arg) {
    server *s = arg;
    s->stream_closed++;
    s->stream = NULL;
}

static void open_idle_later(loop *l, void *arg) {
    (void)l;
    deferred *d = arg;
    d->srv->stream = httpd_stream_open(d->r, NULL, on_stream_closed, d->srv, NULL);
    httpd_stream_write(d->srv->stream, ": hi\n\n", 6, NULL);
    free(d);
}

static void stream_tick(loop *l, void *arg) {
    server *s = arg;
    if (!s->stream) return;
    char frame[64];
    int n = snprintf(frame, sizeof frame, "id: %d\ndata: x\n\n", ++s->writes);
    httpd_stream_write(s->stream, frame, (size_t)n, NULL);
    if (s->writes == 3) {
        httpd_stream_end(s->stream);
        return;
    }
    loop_timer_add(l, 20, stream_tick, s);
}

static void fail_later(loop *l, void *arg) {
    (void)l;
    server *s = arg;
    if (!s->stream) return;
    /* Written and failed in one go: the written frame may still be queued. */
    httpd_stream_write(s->stream, "id: 1\ndata: x\n\n", 16, NULL);
    httpd_stream_fail(s->stream);
}

static void fail_now(loop *l, void *arg) {
    (void)l;
    server *s = arg;
    if (s->stream) httpd_stream_fail(s->stream);
}

static void handler(httpd_req *r, void *arg) {
    server *s = arg;
    const char *path = httpd_path(r);
    if (strcmp(path, "/now") == 0) {
        httpd_req_set_route(r, "/now-route");
        size_t len;
        const char *body = httpd_body(r, &len);
        char out[128];
        snprintf(out, sizeof out, "{\"len\":%zu,\"q\":\"%s\"}", len,
                 httpd_query(r, "q") ? httpd_query(r, "q") : "");
        (void)body;
        httpd_respond(r, 201, NULL, out);
    } else if (strcmp(path, "/later") == 0) {
        deferred *d = malloc(sizeof *d);
        d->srv = s;
        d->r = r;
        loop_timer_add(s->l, 30, answer_later, d);
    } else if (strcmp(path, "/moved") == 0) {
        httpd_respond_header(r, 302, NULL, "{}", "Location", "/now");
    } else if (strcmp(path, "/static") == 0) {
        /* Bytes held by the caller (a NUL inside: the length counts, not strlen), its own headers. */
        static const char body[] = {'a', 'b', '\0', 'c', 'd'};
        static const char *const headers[] = {"Location", "/x", "Cache-Control", "no-cache"};
        httpd_respond_static(r, 200, "text/plain", body, sizeof body, headers, 2);
    } else if (strcmp(path, "/drop") == 0) {
        httpd_drop(r);
    } else if (strcmp(path, "/stream") == 0) {
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        s->writes = 0;
        loop_timer_add(s->l, 20, stream_tick, s);
    } else if (strcmp(path, "/fail") == 0) {
        /* An idle (suspended) stream that then cannot go on. */
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        httpd_stream_write(s->stream, ": hi\n\n", 6, NULL);
        loop_timer_add(s->l, 50, fail_later, s);
    } else if (strcmp(path, "/fail-first") == 0) {
        /* Fails before it ever sent a byte. */
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        loop_timer_add(s->l, 50, fail_now, s);
    } else if (strcmp(path, "/overflow") == 0) {
        /* Limit 4096: the second write would pass it; the first still reaches the client. */
        static char a[3000], b[3000];
        memset(a, 'a', sizeof a);
        memset(b, 'b', sizeof b);
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        s->writes = httpd_stream_write(s->stream, a, sizeof a, NULL) == AGG_OK;
        s->writes += 10 * (httpd_stream_write(s->stream, b, sizeof b, NULL) == AGG_ERR);
    } else if (strcmp(path, "/big") == 0) {
        /* One write larger than the limit into an empty queue is taken. */
        static char big[6000];
        memset(big, 'c', sizeof big);
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        s->writes = httpd_stream_write(s->stream, big, sizeof big, NULL) == AGG_OK;
        httpd_stream_end(s->stream);
    } else if (strcmp(path, "/idle-later") == 0) {
        /* Opened after the request was suspended, as the gateway's streams are. */
        deferred *d = malloc(sizeof *d);
        d->srv = s;
        d->r = r;
        loop_timer_add(s->l, 30, open_idle_later, d);
    } else if (strcmp(path, "/idle") == 0) {
        s->stream = httpd_stream_open(r, NULL, on_stream_closed, s, NULL);
        httpd_stream_write(s->stream, ": hi\n\n", 6, NULL);
    } else {
        api_error e;
        apierr_set(&e, 404, "not_found", NULL, "no");
        httpd_respond_error(r, &e);
    }
}

typedef struct result {
    long status;
    char body[4096];
    size_t len;
    size_t total; /* every body byte, also those body[] had no room for */
    char acao[128];
    char location[128];
    char cache[64];
    int n_cache; /* Cache-Control headers received */
    CURLcode rc;
} result;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    result *res = arg;
    size_t len = size * n;
    res->total += len;
    if (res->len + len < sizeof res->body) {
        memcpy(res->body + res->len, p, len);
        res->len += len;
        res->body[res->len] = '\0';
    }
    return len;
}

/* Copies the value of header name (prefix "Name: ") of line p into out, when p is that header. */
static void header_value(const char *p, size_t len, const char *prefix, char *out, size_t cap) {
    size_t k = strlen(prefix);
    if (len <= k || strncasecmp(p, prefix, k) != 0) return;
    size_t v = len - k;
    while (v > 0 && (p[k + v - 1] == '\r' || p[k + v - 1] == '\n')) v--;
    if (v < cap) {
        memcpy(out, p + k, v);
        out[v] = '\0';
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    result *res = arg;
    size_t len = size * n;
    header_value(p, len, "Location: ", res->location, sizeof res->location);
    header_value(p, len, "Cache-Control: ", res->cache, sizeof res->cache);
    if (len > 14 && strncasecmp(p, "Cache-Control:", 14) == 0) res->n_cache++;
    if (len > 29 && strncasecmp(p, "Access-Control-Allow-Origin: ", 29) == 0) {
        size_t v = len - 29;
        while (v > 0 && (p[29 + v - 1] == '\r' || p[29 + v - 1] == '\n')) v--;
        if (v < sizeof res->acao) {
            memcpy(res->acao, p + 29, v);
            res->acao[v] = '\0';
        }
    }
    return len;
}

typedef struct client_job {
    int port;
    const char *path;
    const char *body;
    size_t body_len;
    const char *origin;
    const char *traceparent;
    long timeout_ms;
    result res;
    loop *l;
} client_job;

static void *client_thread(void *arg) {
    client_job *j = arg;
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", j->port, j->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &j->res);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &j->res);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, j->timeout_ms ? j->timeout_ms : 5000L);
    struct curl_slist *h = NULL;
    char origin[160];
    if (j->origin) {
        snprintf(origin, sizeof origin, "Origin: %s", j->origin);
        h = curl_slist_append(h, origin);
    }
    char tp[128];
    if (j->traceparent) {
        snprintf(tp, sizeof tp, "traceparent: %s", j->traceparent);
        h = curl_slist_append(h, tp);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (j->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
    }
    j->res.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->res.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    loop_stop(j->l);
    return NULL;
}

static server srv;

static int setup(void **state) {
    (void)state;
    memset(&srv, 0, sizeof srv);
    srv.l = loop_new(NULL);
    /* Short deadlines: the tests below wait for them; every other request is whole at once. */
    httpd_options o = {.bind_addr = "127.0.0.1", .max_body = 1000, .stream_buffer_limit = 4096,
                       .cors_origins = "http://ui.example", .header_timeout_ms = 400,
                       .body_timeout_ms = 400, .idle_timeout_ms = 400, .on_done = record_done,
                       .on_done_arg = &srv};
    srv.d = httpd_start(srv.l, &o, handler, &srv, NULL);
    return srv.d ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    httpd_stop(srv.d);
    loop_free(srv.l);
    return 0;
}

static void on_deadline(loop *l, void *arg) {
    *(loop_timer **)arg = NULL; /* fired: nothing left to cancel */
    loop_stop(l);
}

static void wait_closed(loop *l, void *arg) {
    (void)arg;
    if (srv.stream_closed)
        loop_stop(l);
    else
        loop_timer_add(l, 5, wait_closed, NULL);
}

/* Runs the loop until the stream-closed callback ran, at most 5 s. */
static void run_until_stream_closed(void) {
    loop_timer *deadline = NULL;
    deadline = loop_timer_add(srv.l, 5000, on_deadline, &deadline);
    loop_timer_add(srv.l, 0, wait_closed, NULL);
    loop_run(srv.l);
    loop_timer_cancel(srv.l, deadline);
}

static void run(client_job *j) {
    j->port = httpd_port(srv.d);
    j->l = srv.l;
    pthread_t t;
    pthread_create(&t, NULL, client_thread, j);
    loop_timer *deadline = NULL;
    deadline = loop_timer_add(srv.l, 10000, on_deadline, &deadline);
    loop_run(srv.l);
    pthread_join(t, NULL);
    loop_timer_cancel(srv.l, deadline);
}

static void immediate_answer_with_body_and_query(void **state) {
    (void)state;
    client_job j = {.path = "/now?q=abc", .body = "hello", .body_len = 5};
    run(&j);
    assert_int_equal(j.res.status, 201);
    assert_string_equal(j.res.body, "{\"len\":5,\"q\":\"abc\"}");
}

static void wait_done(loop *l, void *arg) {
    if (srv.n_done >= *(int *)arg)
        loop_stop(l);
    else
        loop_timer_add(l, 5, wait_done, arg);
}

/* Runs the loop until on_done reported n requests in all, at most 5 s. */
static void run_until_done(int n) {
    static int want;
    want = n;
    loop_timer *deadline = NULL;
    deadline = loop_timer_add(srv.l, 5000, on_deadline, &deadline);
    loop_timer_add(srv.l, 0, wait_done, &want);
    loop_run(srv.l);
    loop_timer_cancel(srv.l, deadline);
}

static void finished_requests_are_reported_with_route_status_and_trace(void **state) {
    (void)state;
    client_job j = {.path = "/now?q=abc", .body = "hello", .body_len = 5,
                    .traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
    int before = srv.n_done; /* the tests before this one share the server */
    run(&j);
    run_until_done(before + 1);
    assert_int_equal(srv.n_done, before + 1);
    assert_string_equal(srv.last_route, "/now-route");
    assert_string_equal(srv.last_method, "POST");
    assert_string_equal(srv.last_traceparent, j.traceparent);
    assert_int_equal(srv.last_done.status, 201);
    assert_true(srv.last_done.seconds >= 0 && srv.last_done.seconds < 10);

    client_job later = {.path = "/later"};
    run(&later);
    run_until_done(before + 2);
    assert_string_equal(srv.last_route, "(none)");
    assert_string_equal(srv.last_traceparent, "(none)");
    assert_int_equal(srv.last_done.status, 200);
    /* Its answer came 30 ms after the request. */
    assert_true(srv.last_done.seconds >= 0.025);

    client_job dropped = {.path = "/drop", .body = "{}", .body_len = 2};
    run(&dropped);
    run_until_done(before + 3);
    assert_int_equal(srv.last_done.status, 0);

    client_job stream = {.path = "/stream"};
    run(&stream);
    run_until_done(before + 4);
    assert_int_equal(srv.last_done.status, 200);
    assert_true(srv.last_done.seconds >= 0.05); /* three frames 20 ms apart */
}

static void deferred_answer_arrives(void **state) {
    (void)state;
    client_job j = {.path = "/later"};
    run(&j);
    assert_int_equal(j.res.status, 200);
    assert_string_equal(j.res.body, "{\"later\":true}");
}

static void dropped_request_gets_no_answer(void **state) {
    (void)state;
    client_job j = {.path = "/drop", .body = "{}", .body_len = 2};
    run(&j);
    assert_int_equal(j.res.rc, CURLE_GOT_NOTHING);
}

static void answer_with_one_more_header(void **state) {
    (void)state;
    client_job j = {.path = "/moved"};
    run(&j);
    assert_int_equal(j.res.status, 302);
    assert_string_equal(j.res.location, "/now");
    assert_string_equal(j.res.body, "{}");
}

static void static_answer_sends_the_bytes_and_only_the_callers_headers(void **state) {
    (void)state;
    client_job j = {.path = "/static", .origin = "http://ui.example"};
    run(&j);
    assert_int_equal(j.res.status, 200);
    assert_int_equal(j.res.total, 5);
    assert_memory_equal(j.res.body, "ab\0cd", 5);
    assert_string_equal(j.res.location, "/x");
    assert_string_equal(j.res.cache, "no-cache");
    assert_int_equal(j.res.n_cache, 1); /* no default no-store beside it */
    assert_string_equal(j.res.acao, "");  /* no CORS */
    client_job k = {.path = "/now", .origin = "http://ui.example"};
    run(&k); /* the check's own test: an ordinary answer has the default and CORS */
    assert_string_equal(k.res.cache, "no-store");
    assert_string_equal(k.res.acao, "http://ui.example");
}

static void body_over_limit_is_413(void **state) {
    (void)state;
    static char big[5000];
    memset(big, 'a', sizeof big);
    client_job j = {.path = "/now", .body = big, .body_len = sizeof big};
    run(&j);
    assert_int_equal(j.res.status, 413);
}

static void stream_delivers_frames_then_ends(void **state) {
    (void)state;
    srv.stream_closed = 0;
    client_job j = {.path = "/stream"};
    run(&j);
    run_until_stream_closed();
    assert_int_equal(j.res.status, 200);
    assert_string_equal(j.res.body, "id: 1\ndata: x\n\nid: 2\ndata: x\n\nid: 3\ndata: x\n\n");
    assert_int_equal(srv.stream_closed, 1);
}

static void cors_allows_only_listed_origin(void **state) {
    (void)state;
    client_job ok = {.path = "/now", .origin = "http://ui.example"};
    run(&ok);
    assert_string_equal(ok.res.acao, "http://ui.example");
    client_job other = {.path = "/now", .origin = "http://evil.example"};
    run(&other);
    assert_string_equal(other.res.acao, "");
}

/* Sockets of this process on local port `port` in TCP state CLOSE_WAIT (the client closed, the
 * server did not), from /proc/self/net/tcp. */
static int close_wait_count(int port) {
    FILE *f = fopen("/proc/self/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, f)) line[0] = '\0'; /* the header */
    while (fgets(line, sizeof line, f)) {
        unsigned lport, state;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &state) == 2 && (int)lport == port &&
            state == 0x08)
            n++;
    }
    fclose(f);
    return n;
}

static void check_no_close_wait(loop *l, void *arg) {
    int *left = arg;
    if (close_wait_count(httpd_port(srv.d)) == 0 || --*left == 0)
        loop_stop(l);
    else
        loop_timer_add(l, 10, check_no_close_wait, left);
}

/* Runs the loop until no connection of the server is in CLOSE_WAIT, at most about 2 s. */
static int run_until_no_close_wait(void) {
    int left = 200;
    loop_timer_add(srv.l, 0, check_no_close_wait, &left);
    loop_run(srv.l);
    return close_wait_count(httpd_port(srv.d));
}

static void idle_stream_freed_when_client_leaves(void **state) {
    (void)state;
    srv.stream_closed = 0;
    /* The client gives up after 300 ms on an idle (suspended) stream. */
    client_job j = {.path = "/idle", .timeout_ms = 300};
    run(&j);
    assert_int_equal(j.res.rc, CURLE_OPERATION_TIMEDOUT);
    run_until_stream_closed();
    assert_int_equal(srv.stream_closed, 1);
    assert_int_equal(httpd_stream_count(srv.d), 0);
    /* ... and its connection too: MHD alone kept it (in CLOSE_WAIT) until its idle timeout. */
    assert_int_equal(run_until_no_close_wait(), 0);
}

/* Socket descriptors of this process. */
static int socket_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    assert_non_null(dir);
    struct dirent *de;
    int n = 0;
    char path[64], target[64];
    while ((de = readdir(dir))) {
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k > 0 && strncmp(target, "socket:", 7) == 0) n++;
    }
    closedir(dir);
    return n;
}

typedef struct raw_client {
    int port;
    const char *path;
    int got; /* bytes received before the close */
} raw_client;

/* Sends a GET, reads the first bytes of the answer, then closes (an EventSource dropped). */
static void *raw_client_thread(void *arg) {
    raw_client *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[256], buf[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", c->path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && send(fd, req, (size_t)n, 0) == n) {
        while (!strstr(buf, ": hi")) {
            ssize_t k = recv(fd, buf + c->got, sizeof buf - 1 - (size_t)c->got, 0);
            if (k <= 0) break;
            c->got += (int)k;
            buf[c->got] = '\0';
        }
    }
    close(fd);
    return NULL;
}

static void check_sockets(loop *l, void *arg) {
    int *want = arg;
    if (socket_fds() <= want[0] || --want[1] == 0)
        loop_stop(l);
    else
        loop_timer_add(l, 10, check_sockets, want);
}

/* The client of a stream opened after a suspend reads its first bytes and closes: the stream and
 * its connection are gone at once (they stayed until MHD's idle timeout). */
static void dropped_stream_connection_is_closed(void **state) {
    (void)state;
    srv.stream_closed = 0;
    int before = socket_fds();
    raw_client c = {.port = httpd_port(srv.d), .path = "/idle-later"};
    pthread_t t;
    pthread_create(&t, NULL, raw_client_thread, &c);
    run_until_stream_closed();
    pthread_join(t, NULL);
    assert_true(c.got > 0);
    assert_int_equal(srv.stream_closed, 1);
    int want[2] = {before, 300};
    loop_timer_add(srv.l, 0, check_sockets, want);
    loop_run(srv.l);
    assert_int_equal(socket_fds(), before);
}

static void failed_idle_stream_is_closed(void **state) {
    (void)state;
    srv.stream_closed = 0;
    client_job j = {.path = "/fail", .timeout_ms = 3000};
    run(&j);
    assert_int_not_equal(j.res.rc, CURLE_OPERATION_TIMEDOUT); /* closed, not left hanging */
    assert_int_not_equal(j.res.rc, CURLE_OK);                 /* and not as a proper end */
    assert_int_equal(strncmp(j.res.body, ": hi\n\n", 6), 0);
    run_until_stream_closed();
    assert_int_equal(srv.stream_closed, 1);
}

static void stream_failed_before_a_byte_is_closed(void **state) {
    (void)state;
    srv.stream_closed = 0;
    client_job j = {.path = "/fail-first", .timeout_ms = 3000};
    run(&j);
    assert_int_not_equal(j.res.rc, CURLE_OPERATION_TIMEDOUT);
    run_until_stream_closed();
    assert_int_equal(srv.stream_closed, 1);
}

static void overflowing_stream_ends_after_what_it_holds(void **state) {
    (void)state;
    srv.stream_closed = 0;
    client_job j = {.path = "/overflow", .timeout_ms = 5000};
    run(&j);
    assert_int_equal(srv.writes, 11); /* the first write taken, the second refused */
    assert_int_equal(j.res.rc, CURLE_OK); /* a proper end, not a broken stream */
    assert_int_equal(j.res.len, 3000);
    assert_int_equal(j.res.body[2999], 'a');
    run_until_stream_closed();
    assert_int_equal(srv.stream_closed, 1);
}

static void write_larger_than_the_limit_reaches_a_reader(void **state) {
    (void)state;
    srv.stream_closed = 0;
    client_job j = {.path = "/big", .timeout_ms = 5000};
    run(&j);
    assert_int_equal(srv.writes, 1);
    assert_int_equal(j.res.rc, CURLE_OK);
    assert_int_equal(j.res.total, 6000);
    run_until_stream_closed();
}

/* --- connection deadlines, with raw sockets from a client thread --- */

typedef struct raw_job {
    int port;
    loop *l;
    void (*body)(struct raw_job *j);
    int closed;     /* the server closed the connection under test */
    int still_open; /* the stream connection was still open afterwards */
    int got_answer;
} raw_job;

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send(int fd, const char *text) {
    assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads until the server closes (1) or 5 s pass without it (0); answer bytes count. */
static int raw_wait_closed(int fd, int *got_answer) {
    char buf[512];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) return 0;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return 1;
        if (n < 0) return 0;
        if (got_answer) *got_answer = 1;
    }
}

static void *raw_thread(void *arg) {
    raw_job *j = arg;
    j->body(j);
    loop_stop(j->l);
    return NULL;
}

static void run_raw(raw_job *j) {
    j->port = httpd_port(srv.d);
    j->l = srv.l;
    pthread_t t;
    pthread_create(&t, NULL, raw_thread, j);
    loop_timer *deadline = NULL;
    deadline = loop_timer_add(srv.l, 15000, on_deadline, &deadline);
    loop_run(srv.l);
    pthread_join(t, NULL);
    loop_timer_cancel(srv.l, deadline);
}

/* A slowloris: the header never ends although a byte arrives every 50 ms. */
static void slow_header(raw_job *j) {
    int fd = raw_connect(j->port);
    raw_send(fd, "GET /now HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    for (int i = 0; i < 200 && !j->closed; i++) {
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
            j->closed = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) j->closed = raw_wait_closed(fd, &j->got_answer);
    }
    close(fd);
}

static void header_sent_a_byte_at_a_time_is_closed(void **state) {
    (void)state;
    unsigned long long before = httpd_reaped_count(srv.d);
    raw_job j = {.body = slow_header};
    run_raw(&j);
    assert_true(j.closed);
    assert_false(j.got_answer);
    assert_int_equal(httpd_reaped_count(srv.d), before + 1);
}

static void stalled_body(raw_job *j) {
    int fd = raw_connect(j->port);
    raw_send(fd, "POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    j->closed = raw_wait_closed(fd, &j->got_answer);
    close(fd);
}

static void body_that_stops_arriving_is_closed(void **state) {
    (void)state;
    unsigned long long before = httpd_reaped_count(srv.d);
    raw_job j = {.body = stalled_body};
    run_raw(&j);
    assert_true(j.closed);
    assert_false(j.got_answer); /* the handler never saw the request */
    assert_int_equal(httpd_reaped_count(srv.d), before + 1);
}

/* Opens an idle stream, then a keep-alive connection that gets one answer and stays idle;
 * once the idle one is closed, the stream (idle for longer) must still be open. */
static void idle_keepalive_and_stream(raw_job *j) {
    int st = raw_connect(j->port);
    raw_send(st, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[512];
    size_t got = 0;
    while (got < sizeof buf - 1) { /* the headers and ": hi" */
        struct pollfd p = {st, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t n = recv(st, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, ": hi\n\n")) break;
    }
    assert_non_null(strstr(buf, ": hi\n\n"));
    int ka = raw_connect(j->port);
    raw_send(ka, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n");
    j->closed = raw_wait_closed(ka, &j->got_answer);
    char c;
    ssize_t n = recv(st, &c, 1, MSG_DONTWAIT);
    j->still_open = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    close(ka);
    close(st);
}

static void idle_keepalive_is_closed_but_not_an_idle_stream(void **state) {
    (void)state;
    srv.stream_closed = 0;
    raw_job j = {.body = idle_keepalive_and_stream};
    run_raw(&j);
    assert_true(j.got_answer); /* served, then closed for idling */
    assert_true(j.closed);
    assert_true(j.still_open);
    run_until_stream_closed(); /* the client's close ends the stream */
    assert_int_equal(srv.stream_closed, 1);
}

static void test_cors_origin_list(void **state) {
    (void)state;
    const char *list = "http://a.example, https://b.example ,http://c.example:8080";
    assert_true(cors_origin_allowed(list, "http://a.example"));
    assert_true(cors_origin_allowed(list, "https://b.example"));
    assert_true(cors_origin_allowed(list, "http://c.example:8080"));
    assert_false(cors_origin_allowed(list, "http://c.example"));
    assert_false(cors_origin_allowed(list, "http://a.exampl"));
    assert_false(cors_origin_allowed(list, "https://b.example "));
    assert_false(cors_origin_allowed(NULL, "http://a.example"));
    assert_false(cors_origin_allowed(list, NULL));
    assert_false(cors_origin_allowed("", ""));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(immediate_answer_with_body_and_query),
        cmocka_unit_test(deferred_answer_arrives),
        cmocka_unit_test(finished_requests_are_reported_with_route_status_and_trace),
        cmocka_unit_test(answer_with_one_more_header),
        cmocka_unit_test(dropped_request_gets_no_answer),
        cmocka_unit_test(static_answer_sends_the_bytes_and_only_the_callers_headers),
        cmocka_unit_test(body_over_limit_is_413),
        cmocka_unit_test(stream_delivers_frames_then_ends),
        cmocka_unit_test(cors_allows_only_listed_origin),
        cmocka_unit_test(test_cors_origin_list),
        cmocka_unit_test(idle_stream_freed_when_client_leaves),
        cmocka_unit_test(dropped_stream_connection_is_closed),
        cmocka_unit_test(failed_idle_stream_is_closed),
        cmocka_unit_test(stream_failed_before_a_byte_is_closed),
        cmocka_unit_test(overflowing_stream_ends_after_what_it_holds),
        cmocka_unit_test(write_larger_than_the_limit_reaches_a_reader),
        cmocka_unit_test(header_sent_a_byte_at_a_time_is_closed),
        cmocka_unit_test(body_that_stops_arriving_is_closed),
        cmocka_unit_test(idle_keepalive_is_closed_but_not_an_idle_stream),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
