/* Unit tests for sse: event framing, Last-Event-ID and pub/sub payload parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sse.h"

static void expect_frame(long long id, const char *event, const char *data, const char *want) {
    size_t len = 0;
    char *f = sse_frame(id, event, data, strlen(data), &len, NULL);
    assert_non_null(f);
    assert_string_equal(f, want);
    assert_int_equal(len, strlen(want));
    free(f);
}

static void test_frame_simple(void **state) {
    (void)state;
    expect_frame(1, "callback", "{\"a\":1}", "id: 1\nevent: callback\ndata: {\"a\":1}\n\n");
    expect_frame(1000000000000000LL, "summary", "{}",
                 "id: 1000000000000000\nevent: summary\ndata: {}\n\n");
}

static void test_frame_multiline(void **state) {
    (void)state;
    expect_frame(2, "x", "a\nb", "id: 2\nevent: x\ndata: a\ndata: b\n\n");
    expect_frame(2, "x", "a\r\nb", "id: 2\nevent: x\ndata: a\ndata: b\n\n");
    expect_frame(2, "x", "a\rb", "id: 2\nevent: x\ndata: a\ndata: b\n\n");
    expect_frame(2, "x", "a\n\nb", "id: 2\nevent: x\ndata: a\ndata: \ndata: b\n\n");
    expect_frame(2, "x", "a\r\n\r\nb\n", "id: 2\nevent: x\ndata: a\ndata: \ndata: b\ndata: \n\n");
    expect_frame(2, "x", "\r\r", "id: 2\nevent: x\ndata: \ndata: \ndata: \n\n");
    expect_frame(3, "x", "", "id: 3\nevent: x\ndata: \n\n");
}

static void test_frame_respects_len(void **state) {
    (void)state;
    size_t len;
    char *f = sse_frame(4, "e", "abcdef", 3, &len, NULL);
    assert_non_null(f);
    assert_string_equal(f, "id: 4\nevent: e\ndata: abc\n\n");
    free(f);
    f = sse_frame(5, "e", NULL, 0, &len, NULL);
    assert_non_null(f);
    assert_string_equal(f, "id: 5\nevent: e\ndata: \n\n");
    free(f);
}

static void test_frame_bad_event(void **state) {
    (void)state;
    size_t len;
    assert_null(sse_frame(1, "a\nb", "{}", 2, &len, NULL));
    assert_null(sse_frame(1, "a\rb", "{}", 2, &len, NULL));
    assert_null(sse_frame(1, NULL, "{}", 2, &len, NULL));
    err_t e;
    assert_null(sse_frame(1, "a\nb", "{}", 2, &len, &e));
    assert_string_equal(e.text, "an event name is required, without CR or LF");
}

static void test_frame_large(void **state) {
    (void)state;
    size_t n = 100000;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) data[i] = (i % 10 == 9) ? '\n' : 'x';
    size_t len;
    char *f = sse_frame(7, "callback", data, n, &len, NULL);
    assert_non_null(f);
    assert_int_equal(len, strlen(f));
    /* 10000 newlines -> 10001 data lines, each "data: " plus a line end */
    assert_int_equal(len, strlen("id: 7\nevent: callback\n") + 10001 * 7 + 90000 + 1);
    free(f);
    free(data);
}

static void test_retry_frame(void **state) {
    (void)state;
    char buf[SSE_RETRY_FRAME_MAX];
    assert_int_equal(sse_retry_frame(1500, buf), 13);
    assert_string_equal(buf, "retry: 1500\n\n");
    sse_retry_frame(-5, buf);
    assert_string_equal(buf, "retry: 0\n\n");
    sse_retry_frame(2000000000L, buf);
    assert_string_equal(buf, "retry: 1000000000\n\n");
}

static void test_last_event_id(void **state) {
    (void)state;
    long long v = -5;
    assert_int_equal(sse_parse_last_event_id(NULL, &v, NULL), AGG_OK);
    assert_int_equal(v, 0);
    v = -5;
    assert_int_equal(sse_parse_last_event_id("", &v, NULL), AGG_OK);
    assert_int_equal(v, 0);
    assert_int_equal(sse_parse_last_event_id("0", &v, NULL), AGG_OK);
    assert_int_equal(v, 0);
    assert_int_equal(sse_parse_last_event_id("12", &v, NULL), AGG_OK);
    assert_int_equal(v, 12);
    assert_int_equal(sse_parse_last_event_id("007", &v, NULL), AGG_OK);
    assert_int_equal(v, 7);
    assert_int_equal(sse_parse_last_event_id("1000000000000000", &v, NULL), AGG_OK);
    assert_int_equal(v, 1000000000000000LL);
    const char *bad[] = {"-1",
                         "1a",
                         " 1",
                         "1 ",
                         "+1",
                         "1.0",
                         "0x1",
                         "1000000000000001",
                         "9999999999999999",
                         "99999999999999999999999999",
                         "a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sse_parse_last_event_id(bad[i], &v, NULL), AGG_ERR);
}

static void test_published_ok(void **state) {
    (void)state;
    const char *p = "12 callback {\"a\":\"b c\"}";
    sse_published ev;
    assert_int_equal(sse_parse_published(p, strlen(p), &ev, NULL), AGG_OK);
    assert_int_equal(ev.seq, 12);
    assert_int_equal(ev.event_len, 8);
    assert_memory_equal(ev.event, "callback", 8);
    assert_int_equal(ev.data_len, strlen("{\"a\":\"b c\"}"));
    assert_memory_equal(ev.data, "{\"a\":\"b c\"}", ev.data_len);
    /* len bounds the payload: no NUL needed */
    const char buf[] = "3 summary {}XXXX";
    assert_int_equal(sse_parse_published(buf, 12, &ev, NULL), AGG_OK);
    assert_int_equal(ev.seq, 3);
    assert_int_equal(ev.data_len, 2);
}

static void test_published_bad(void **state) {
    (void)state;
    const char *bad[] = {"",
                         "12",
                         "12 ",
                         "12 callback",
                         "12 callback ",
                         "0 callback {}",
                         "-1 callback {}",
                         "x callback {}",
                         " 1 callback {}",
                         "1  callback {}",
                         "1 Callback {}",
                         "1 call-back {}",
                         "1 callback\t{}",
                         "1a callback {}",
                         "99999999999999999999 callback {}"};
    sse_published ev;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sse_parse_published(bad[i], strlen(bad[i]), &ev, NULL), AGG_ERR);
    assert_int_equal(sse_parse_published(NULL, 0, &ev, NULL), AGG_ERR);
    assert_int_equal(sse_parse_published("5 summary {}", 10, &ev, NULL), AGG_ERR);
    err_t e;
    assert_int_equal(sse_parse_published("0 callback {}", 13, &ev, &e), AGG_ERR);
    assert_string_equal(e.text, "the seq is not positive");
    long long v;
    assert_int_equal(sse_parse_last_event_id("1x", &v, &e), AGG_ERR);
    assert_string_equal(e.text, "an id is decimal digits only");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_simple),       cmocka_unit_test(test_frame_multiline),
        cmocka_unit_test(test_frame_respects_len), cmocka_unit_test(test_frame_bad_event),
        cmocka_unit_test(test_frame_large),        cmocka_unit_test(test_last_event_id),
        cmocka_unit_test(test_published_ok),       cmocka_unit_test(test_published_bad),
        cmocka_unit_test(test_retry_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
