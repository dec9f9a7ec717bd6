/* selftest: checks the histogram, the HTTP response parser and the SSE parser of the load generator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "http.h"
#include "sse.h"

static int failures;
#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static void test_hdr(void) {
    hdr h;
    hdr_init(&h);
    CHECK(hdr_percentile(&h, 99) == 0);
    for (int64_t v = 0; v < 10000000; v = v * 2 + 1) {   /* bucket bounds bracket every value */
        int i = hdr_index(v);
        CHECK(hdr_lowest(i) <= v && v <= hdr_highest(i));
        CHECK(i < HDR_BUCKETS);
        if (v >= 128) CHECK((double)(hdr_highest(i) - hdr_lowest(i) + 1) / (double)hdr_lowest(i) <= 1.0 / 64 + 1e-9);
    }
    CHECK(hdr_index(HDR_MAX_US) < HDR_BUCKETS && hdr_highest(HDR_BUCKETS - 1) >= HDR_MAX_US);
    for (int i = 1; i < HDR_BUCKETS; i++) CHECK(hdr_lowest(i) == hdr_highest(i - 1) + 1);
    for (int v = 1; v <= 10000; v++) hdr_record(&h, v * 100);   /* 100 us .. 1 s, uniform */
    int64_t p50 = hdr_percentile(&h, 50), p99 = hdr_percentile(&h, 99), p999 = hdr_percentile(&h, 99.9);
    CHECK(p50 >= 500000 && p50 <= 500000 * 1.016);
    CHECK(p99 >= 990000 && p99 <= 990000 * 1.016);
    CHECK(p999 >= 999000 && p999 <= 1000000);
    CHECK(hdr_percentile(&h, 100) == 1000000);
    CHECK(h.count == 10000 && h.min == 100);
    hdr g;
    hdr_init(&g);
    hdr_record(&g, 70 * 1000000LL);   /* clamped */
    CHECK(g.clamped == 1 && g.max == HDR_MAX_US);
    hdr_merge(&g, &h);
    CHECK(g.count == 10001 && g.min == 100);
}

typedef struct acc {
    char buf[4096];
    size_t n;
} acc;

static void acc_body(void *ud, const char *p, size_t n) {
    acc *a = ud;
    memcpy(a->buf + a->n, p, n);
    a->n += n;
    a->buf[a->n] = 0;
}

/* Feeds msg one byte at a time, then all at once: both must give the same body. */
static void test_http(void) {
    const char *msgs[] = {
        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n"
        "{\"correlationId\":\"ab-c\",\"x\"}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
    };
    const char *bodies[] = {"{\"correlationId\":\"ab-c\",\"x\"}", "hello world"};
    for (int m = 0; m < 2; m++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            http_resp r;
            http_resp_init(&r);
            acc a = {.n = 0};
            size_t len = strlen(msgs[m]), used, total = 0;
            int st = HTTP_MORE;
            if (bytewise) {
                for (size_t i = 0; i < len && st == HTTP_MORE; i++) {
                    st = http_resp_feed(&r, msgs[m] + i, 1, &used, acc_body, &a);
                    total += used;
                }
            } else {
                st = http_resp_feed(&r, msgs[m], len, &used, acc_body, &a);
                total = used;
            }
            CHECK(st == HTTP_DONE);
            CHECK(total == len);
            CHECK(!strcmp(a.buf, bodies[m]));
            CHECK(r.status == (m ? 200 : 202));
            CHECK(!r.conn_close);
        }
    }
    http_resp r;
    http_resp_init(&r);
    size_t used;
    const char *eofmsg = "HTTP/1.0 200 OK\r\n\r\nabc";
    CHECK(http_resp_feed(&r, eofmsg, strlen(eofmsg), &used, NULL, NULL) == HTTP_MORE);
    CHECK(http_resp_eof(&r) == HTTP_DONE && r.conn_close);
    http_resp_init(&r);
    CHECK(http_resp_feed(&r, "garbage\r\n", 9, &used, NULL, NULL) == HTTP_ERR);

    char cid[48];
    long v;
    const char *j = "{\"source\":\"AGGREGATOR\",\"correlationId\": \"0f-1\",\"respondents\":3,\"errors\":0}";
    CHECK(http_json_str(j, strlen(j), "correlationId", cid, sizeof cid) == 0 && !strcmp(cid, "0f-1"));
    CHECK(http_json_long(j, strlen(j), "respondents", &v) == 0 && v == 3);
    CHECK(http_json_long(j, strlen(j), "missing", &v) == -1);
    CHECK(http_json_str(j, strlen(j), "respondents", cid, sizeof cid) == -1);
}

typedef struct seen {
    int n;
    long long ids[8];
    char events[8][16];
    char data[8][64];
} seen;

static void on_ev(void *ud, long long id, const char *event, const char *data, size_t len) {
    seen *s = ud;
    if (s->n >= 8) return;
    s->ids[s->n] = id;
    snprintf(s->events[s->n], 16, "%s", event);
    snprintf(s->data[s->n], 64, "%.*s", (int)len, data);
    s->n++;
}

static void test_sse(void) {
    const char *stream = ": keep-alive\n\nid: 1\nevent: callback\ndata: {\"a\":1}\n\n: keep-alive\r\n\r\n"
                         "id: 2\r\nevent: summary\r\ndata: line1\r\ndata: line2\r\n\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        sse_parser p;
        sse_init(&p);
        seen s = {0};
        size_t len = strlen(stream);
        if (bytewise) {
            for (size_t i = 0; i < len; i++) CHECK(sse_feed(&p, stream + i, 1, on_ev, &s) == 0);
        } else {
            CHECK(sse_feed(&p, stream, len, on_ev, &s) == 0);
        }
        CHECK(s.n == 2);
        CHECK(s.ids[0] == 1 && !strcmp(s.events[0], "callback") && !strcmp(s.data[0], "{\"a\":1}"));
        CHECK(s.ids[1] == 2 && !strcmp(s.events[1], "summary") && !strcmp(s.data[1], "line1\nline2"));
        CHECK(p.comments == 2);
        sse_free(&p);
    }
}

int main(void) {
    test_hdr();
    test_http();
    test_sse();
    if (failures) {
        fprintf(stderr, "bench_selftest: %d checks failed\n", failures);
        return 1;
    }
    printf("bench_selftest: all checks passed\n");
    return 0;
}
