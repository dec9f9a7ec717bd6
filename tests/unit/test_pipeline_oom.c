/* test_pipeline_oom: a gateway, a worker and a resource in one process on one loop (real Redis,
 * librdkafka's mock cluster), with the Nth allocation failed for every N of a round of sessions:
 * POST, answer, stream open, event delivery, record, expire, WAIT_FOR_EVERYONE answer. Each run
 * ends with no crash, no leak (ASan), every session finished, and out of memory reported as such. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "failalloc.h"
#include "gateway_app.h"
#include "listeners.h"
#include "log.h"
#include "session.h"
#include "streams.h"
#include "worker_app.h"

#define WAIT_MS    20000

static loop *L;
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static gateway gw;
static worker wk;
static httpc *rs_client;
static rs_api *rs;
static httpd *rs_http;
static int gw_port;
static httpd *mute_http; /* resource-2: takes every call and never answers */
static long mute_calls;

/* --- waiting on conditions with a deadline --- */

typedef int cond_fn(void *arg);

typedef struct waitctx {
    cond_fn *cond;
    void *arg;
    long long deadline;
    int met;
} waitctx;

static void wait_tick(loop *l, void *arg) {
    waitctx *w = arg;
    if ((w->met = w->cond(w->arg)) || loop_now_ms() >= w->deadline) {
        loop_stop(l);
        return;
    }
    /* The harness's own allocations are not the system's: they neither count nor fail. */
    failalloc_pause(1);
    loop_timer *t = loop_timer_add(l, 2, wait_tick, w);
    failalloc_pause(0);
    if (!t) loop_stop(l);
}

/* Runs the loop until cond holds or ms pass. */
static int run_until(cond_fn *cond, void *arg, long long ms) {
    waitctx w = {cond, arg, loop_now_ms() + ms, 0};
    if (cond(arg)) return 1;
    failalloc_pause(1);
    loop_timer *t = loop_timer_add(L, 2, wait_tick, &w);
    failalloc_pause(0);
    if (!t) return 0;
    loop_run(L);
    return w.met;
}

/* --- a raw HTTP client on the loop: a POST asks for Connection: close and reads to EOF; a
 * stream keeps the connection, as a browser's EventSource does --- */

typedef struct client {
    int fd;
    char *out;
    size_t out_len, out_off;
    char in[65536];
    size_t in_len;
    int done;   /* the server closed */
    int failed; /* connect or I/O error */
} client;

static void client_io(loop *l, int fd, unsigned events, void *arg) {
    client *c = arg;
    if ((events & LOOP_WRITE) && c->out_off < c->out_len) {
        ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) c->out_off += (size_t)n;
        if (n < 0 && errno != EAGAIN) c->failed = 1;
    }
    if (events & (LOOP_READ | LOOP_HUP)) {
        for (;;) {
            if (c->in_len == sizeof c->in - 1) break;
            ssize_t n = recv(fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len, 0);
            if (n > 0) {
                c->in_len += (size_t)n;
                continue;
            }
            if (n == 0 || errno != EAGAIN) c->done = 1;
            break;
        }
        c->in[c->in_len] = '\0';
    }
    if (c->done || c->failed) {
        loop_unwatch(l, fd);
        return;
    }
    if (c->out_off == c->out_len) {
        failalloc_pause(1);
        loop_watch(l, fd, LOOP_READ, client_io, c, NULL);
        failalloc_pause(0);
    }
}

static void client_start(client *c, int port, const char *method, const char *path,
                         const char *body) {
    failalloc_pause(1);
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    assert_true(rc == 0 || errno == EINPROGRESS);
    size_t blen = body ? strlen(body) : 0;
    c->out = malloc(blen + 512);
    assert_non_null(c->out);
    c->out_len = (size_t)snprintf(c->out, blen + 512,
                                  "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                  method, path, body ? "Connection: close\r\n" : "", blen, body ? body : "");
    assert_int_equal(loop_watch(L, c->fd, LOOP_READ | LOOP_WRITE, client_io, c, NULL), AGG_OK);
    failalloc_pause(0);
}

static void client_end(client *c) {
    if (!c->done && !c->failed && c->fd >= 0) loop_unwatch(L, c->fd);
    close(c->fd);
    free(c->out);
    c->out = NULL;
}

static int client_finished(void *arg) {
    client *c = arg;
    return c->done || c->failed;
}

/* A stream is over when its summary arrived (an EventSource keeps the connection, so it is not
 * closed then) or when the gateway closed it. */
static int stream_finished(const client *c) {
    if (client_finished((void *)c) || strstr(c->in, "event: summary") != NULL) return 1;
    /* An error answer instead of a stream: complete once its whole body is in. */
    const char *cl = strcasestr(c->in, "\r\nContent-Length: ");
    const char *body = strstr(c->in, "\r\n\r\n");
    return cl && body && strlen(body + 4) >= (size_t)atol(cl + 18);
}

static int client_status(const client *c) {
    int status = 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1) return 0;
    return status;
}

static const char *client_body(const client *c) {
    const char *b = strstr(c->in, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* --- the pipeline --- */

static int pipeline_ready(void *arg) {
    (void)arg;
    return rds_ready(gw.redis) && gw_producer_healthy(gw.kafka) && rds_ready(wk.r) &&
           worker_kafka_healthy(&wk);
}

static void set(const char *name, const char *value) { assert_int_equal(setenv(name, value, 1), 0); }

static void poll_mock(loop *l, void *arg) {
    (void)arg;
    rd_kafka_poll(mock_rk, 0);
    loop_timer_add(l, 200, poll_mock, NULL);
}

/* resource-2 accepts the call (200) and never sends the answer: its session is expired. */
static void mute_handle(httpd_req *r, void *arg) {
    (void)arg;
    mute_calls++;
    httpd_respond(r, 200, NULL, "{\"status\":\"accepted\"}");
}

static int group_setup(void **state) {
    (void)state;
    const char *redis = getenv("REDIS_TEST_URL");
    if (!redis) {
        fprintf(stderr, "test_pipeline_oom: REDIS_TEST_URL is not set; run it through "
                        "tests/with-redis.sh (make test does)\n");
        return -1;
    }
    err_t e;
    set("LOG_LEVEL", "error");
    if (log_init("test", &e) != AGG_OK) return -1;
    L = loop_new(&e);
    if (!L) return -1;

    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_rk || !(mock = rd_kafka_mock_cluster_new(mock_rk, 1))) return -1;
    rd_kafka_mock_topic_create(mock, "t.requests", 2, 1);
    rd_kafka_mock_topic_create(mock, "t.answers", 2, 1);
    rd_kafka_mock_topic_create(mock, "t.audit", 2, 1); /* the worker's audit relay writes it */
    loop_timer_add(L, 200, poll_mock, NULL);

    /* The resource: resource-sim's API on the same loop. */
    if (!(rs_client = httpc_new(L, &e))) return -1;
    static const rs_config rc = {"resource-1", 2, 1000, 2000, 3};
    if (!(rs = rs_api_new(L, rs_client, &rc, &e))) return -1;
    httpd_options ho = {.bind_addr = "127.0.0.1", .max_body = 1024 * 1024,
                        .stream_buffer_limit = 65536, .conn_memory_limit = 8192,
                        .conn_limit = 256};
    if (!(rs_http = httpd_start(L, &ho, rs_api_handle, rs, &e))) return -1;
    if (!(mute_http = httpd_start(L, &ho, mute_handle, NULL, &e))) return -1;
    char urls[128];
    snprintf(urls, sizeof urls, "resource-1=http://127.0.0.1:%d,resource-2=http://127.0.0.1:%d",
             httpd_port(rs_http), httpd_port(mute_http));

    set("KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mock));
    set("REDIS_URL", redis);
    set("KAFKA_TOPIC_REQUESTS", "t.requests");
    set("KAFKA_TOPIC_CALLBACKS", "t.answers");
    set("KAFKA_TOPIC_AUDIT", "t.audit");
    set("AUDIT_POLL_MS", "25");
    set("KAFKA_GROUP_ID", "t-oom");
    set("CALLBACK_SIGNING_KEY", "test-pipeline-oom-signing-key-0123456789");
    set("RESOURCE_URLS", urls);
    set("SERVER_PORT", "8080"); /* replaced by a free port below */
    set("MANAGEMENT_PORT", "0");
    set("BIND_ADDR", "127.0.0.1");
    set("DEADLINE_POLL_MS", "25");
    set("SESSION_RETENTION_S", "60");
    set("KAFKA_BATCH_ABOVE_PER_S", "0");
    set("KAFKA_LINGER_MS", "0");
    set("WAIT_GRACE_MS", "3000");

    if (gw_config_load(&gw.cfg, &e) != AGG_OK) {
        fprintf(stderr, "gateway: %s\n", e.text);
        return -1;
    }
    gw.cfg.port = 0; /* any free port */
    if (gw_start(&gw, L, &e) != AGG_OK) {
        fprintf(stderr, "gateway: %s\n", e.text);
        return -1;
    }
    gw_port = httpd_port(gw.http);
    snprintf(gw.cfg.callback_url, sizeof gw.cfg.callback_url,
             "http://127.0.0.1:%d/aggregate/callback", gw_port);
    if (worker_config_load(&wk.cfg, &e) != AGG_OK || worker_start(&wk, L, &e) != AGG_OK) {
        fprintf(stderr, "worker: %s\n", e.text);
        return -1;
    }
    if (!run_until(pipeline_ready, NULL, WAIT_MS)) {
        fprintf(stderr, "test_pipeline_oom: the pipeline did not become ready\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    worker_stop(&wk);
    gw_stop(&gw, 1000);
    httpd_stop(rs_http);
    httpd_stop(mute_http);
    httpc_free(rs_client);
    rs_api_free(rs);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    loop_free(L);
    return 0;
}

/* --- one round: an SSE session with a stream, and a WAIT_FOR_EVERYONE session; in both,
 * resource-2 never answers, so both end by their deadline (100 ms) --- */

typedef struct round {
    client post_sse, stream, post_wait;
    char cid[UUID4_LEN + 1];
    int stream_started;
    int fired; /* the armed allocation failed during the round */
} round;

/* An answer the client may get: success, or a failure that says what it is. */
static void check_answer(const client *c, int ok_status, int fired, const char *what) {
    int status = client_status(c);
    if (status == ok_status) return;
    if (!fired)
        fail_msg("%s: HTTP %d without an injected failure: %.300s", what, status, client_body(c));
    if (status == 0 && c->in_len == 0) return; /* the connection itself could not be served */
    if (status >= 500 && strstr(client_body(c), "out of memory")) return;
    fail_msg("%s: HTTP %d for an out-of-memory failure, not reported as one: %.300s", what, status,
             client_body(c));
}

static int sse_posted(void *arg) { return client_finished(&((round *)arg)->post_sse); }

static int round_done(void *arg) {
    round *r = arg;
    return client_finished(&r->post_wait) && (!r->stream_started || stream_finished(&r->stream));
}

/* Nothing of the round is left in any process. */
static int quiet(void *arg) {
    (void)arg;
    return wk.jobs == 0 && gw.posts_publishing == 0 && gw_listeners_count(gw.listeners) == 0 &&
           gw_streams_open(gw.streams) == 0 && rs_api_pending(rs) == 0 &&
           httpc_in_flight(wk.hc) == 0;
}

/* Runs one round with allocation n failed (0: none). Returns whether it fired. */
static int run_round(size_t n) {
    round r;
    memset(&r, 0, sizeof r);
    /* A connection to the broker or Redis may have been recycled meanwhile: the round starts
     * on a ready pipeline, so that every refusal in it comes from the failed allocation. */
    assert_true(run_until(pipeline_ready, NULL, WAIT_MS));
    failalloc_arm(n);
    client_start(&r.post_sse, gw_port, "POST", "/aggregate/journals",
                 "{\"patientId\":\"p-oom\",\"delays\":\"0,0\",\"timeoutMs\":100}");
    client_start(&r.post_wait, gw_port, "POST", "/aggregate/journals",
                 "{\"patientId\":\"p-oom\",\"delays\":\"0,0\",\"timeoutMs\":100,"
                 "\"strategy\":\"WAIT_FOR_EVERYONE\"}");
    assert_true(run_until(sse_posted, &r, WAIT_MS));
    const char *cid = strstr(client_body(&r.post_sse), "\"correlationId\":\"");
    if (client_status(&r.post_sse) == 202 && cid) {
        memcpy(r.cid, cid + 17, UUID4_LEN);
        char path[128];
        snprintf(path, sizeof path, "/aggregate/stream?correlationId=%s", r.cid);
        client_start(&r.stream, gw_port, "GET", path, NULL);
        r.stream_started = 1;
    }
    if (!run_until(round_done, &r, WAIT_MS))
        fail_msg("allocation %zu failed: a client got no complete answer: POST (SSE) %d%s, "
                 "POST (WAIT_FOR_EVERYONE) %d%s, stream %d%s: %.400s",
                 n, client_status(&r.post_sse), client_finished(&r.post_sse) ? "" : " (open)",
                 client_status(&r.post_wait), client_finished(&r.post_wait) ? "" : " (open)",
                 client_status(&r.stream), stream_finished(&r.stream) ? "" : " (open)",
                 client_body(&r.stream));
    /* Every session that was opened finishes; nothing is left behind. */
    if (!run_until(quiet, NULL, WAIT_MS))
        fail_msg("allocation %zu failed: not quiet: jobs %ld, publishing %ld, listeners %zu, "
                 "streams %zu, resource answers %zu, worker calls %zu; clients: %.200s | %.200s | "
                 "%.200s",
                 n, wk.jobs, gw.posts_publishing, gw_listeners_count(gw.listeners),
                 gw_streams_open(gw.streams), rs_api_pending(rs), httpc_in_flight(wk.hc),
                 r.post_sse.in, r.post_wait.in, r.stream.in);
    r.fired = failalloc_fired();
    failalloc_disarm();

    check_answer(&r.post_sse, 202, r.fired, "POST (SSE)");
    check_answer(&r.post_wait, 200, r.fired, "POST (WAIT_FOR_EVERYONE)");
    if (r.stream_started) {
        check_answer(&r.stream, 200, r.fired, "stream");
        if (client_status(&r.stream) == 200 && !r.fired)
            assert_non_null(strstr(r.stream.in, "event: summary"));
    }
    if (client_status(&r.post_wait) == 200) {
        const char *b = client_body(&r.post_wait);
        assert_non_null(strstr(b, "\"completedBy\""));
        if (!r.fired) assert_non_null(strstr(b, "\"completedBy\":\"TIMEOUT\""));
    }
    client_end(&r.post_sse);
    client_end(&r.post_wait);
    if (r.stream_started) client_end(&r.stream);
    return r.fired;
}

static void a_round_works_without_failures(void **state) {
    (void)state;
    assert_false(run_round(0));
    assert_false(run_round(0));
}

static void every_allocation_of_a_round_may_fail(void **state) {
    (void)state;
    size_t n = getenv("TEST_OOM_FROM") ? (size_t)atol(getenv("TEST_OOM_FROM")) : 1;
    while (run_round(n)) {
        if (getenv("TEST_OOM_VERBOSE")) fprintf(stderr, "allocation %zu failed: ok\n", n);
        n++;
    }
    fprintf(stderr, "test_pipeline_oom: failed each of %zu allocations in turn\n", n - 1);
    assert_true(n > 50); /* the round did allocate through agg_malloc and jansson */
    /* And the pipeline still works. */
    assert_false(run_round(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_round_works_without_failures),
        cmocka_unit_test(every_allocation_of_a_round_may_fail),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
