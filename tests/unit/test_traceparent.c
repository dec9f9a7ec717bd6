/* test_traceparent: the W3C traceparent grammar (the spec's valid and invalid forms), new traces and children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "traceparent.h"

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void parses_the_spec_example(void **state) {
    traceparent t;
    assert_int_equal(traceparent_parse(VALID, &t, NULL), AGG_OK);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");
    assert_int_equal(t.flags, 1);
    char out[TRACEPARENT_LEN + 1];
    traceparent_format(&t, out);
    assert_string_equal(out, VALID);
    assert_int_equal(traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t,
                                       NULL),
                     AGG_OK);
    assert_int_equal(t.flags, 0);
}

static void rejects_invalid_forms(void **state) {
    static const char *const bad[] = {
        NULL,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        /* no flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",    /* 00 with more */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",    /* 00 too long */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     /* version ff */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     /* version not hex */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     /* upper case trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",     /* upper case span */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     /* all-zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     /* all-zero span id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",     /* flags not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",     /* misplaced dash */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",    /* later version, no dash */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        traceparent t = {"untouched", "untouched", 7};
        err_t e = {0};
        assert_int_equal(traceparent_parse(bad[i], &t, &e), AGG_ERR);
        assert_true(e.text[0] != '\0');
        assert_string_equal(t.trace_id, "untouched"); /* *out untouched on failure */
    }
}

/* A later version is read by its 00 prefix (the spec's forward compatibility). */
static void accepts_later_versions(void **state) {
    traceparent t;
    assert_int_equal(
        traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", &t, NULL),
        AGG_OK);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(
        traceparent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", &t, NULL),
        AGG_OK);
    assert_int_equal(t.flags, 9);
}

static void from_bytes_formats_and_avoids_zero(void **state) {
    unsigned char rnd[24];
    for (int i = 0; i < 24; i++) rnd[i] = (unsigned char)(i * 17);
    traceparent t;
    traceparent_from_bytes(rnd, &t);
    assert_string_equal(t.trace_id, "00112233445566778899aabbccddeeff");
    assert_string_equal(t.span_id, "1021324354657687");
    assert_int_equal(t.flags, 1);
    memset(rnd, 0, sizeof rnd);
    traceparent_from_bytes(rnd, &t);
    char out[TRACEPARENT_LEN + 1];
    traceparent_format(&t, out);
    traceparent back;
    assert_int_equal(traceparent_parse(out, &back, NULL), AGG_OK); /* never the invalid zero id */
}

static void generate_child_and_take(void **state) {
    traceparent a, b, c;
    assert_int_equal(traceparent_generate(&a, NULL), AGG_OK);
    assert_int_equal(traceparent_generate(&b, NULL), AGG_OK);
    assert_string_not_equal(a.trace_id, b.trace_id);
    assert_int_equal(traceparent_child(&a, &c, NULL), AGG_OK);
    assert_string_equal(c.trace_id, a.trace_id);
    assert_string_not_equal(c.span_id, a.span_id);
    assert_int_equal(c.flags, a.flags);
    char s[TRACEPARENT_LEN + 1];
    traceparent_format(&c, s);
    assert_int_equal(traceparent_parse(s, &b, NULL), AGG_OK);

    int valid = -1;
    assert_int_equal(traceparent_take(VALID, &b, &valid, NULL), AGG_OK);
    assert_int_equal(valid, 1);
    assert_string_equal(b.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(traceparent_take("garbage", &b, &valid, NULL), AGG_OK);
    assert_int_equal(valid, 0);
    assert_string_not_equal(b.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(strlen(b.trace_id), TRACEPARENT_TRACE_LEN);
    assert_int_equal(traceparent_take(NULL, &b, &valid, NULL), AGG_OK);
    assert_int_equal(valid, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_spec_example),
        cmocka_unit_test(rejects_invalid_forms),
        cmocka_unit_test(accepts_later_versions),
        cmocka_unit_test(from_bytes_formats_and_avoids_zero),
        cmocka_unit_test(generate_child_and_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
