/* test_log: every line is one valid JSON object with the fixed keys (escaping, truncation, context, fields, patient hashing) and the text format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "phash.h"

typedef struct capture {
    char lines[8][65536];
    size_t len[8];
    int n;
} capture;

static capture cap;

static void sink(const char *line, size_t len, void *arg) {
    capture *c = arg;
    if (c->n >= 8) return;
    assert_true(len < sizeof c->lines[0]);
    memcpy(c->lines[c->n], line, len);
    c->lines[c->n][len] = '\0';
    c->len[c->n++] = len;
}

static int setup(void **state) {
    setenv("LOG_PATIENT_KEY", "Jefe", 1);
    setenv("LOG_LEVEL", "debug", 1);
    unsetenv("LOG_FORMAT");
    err_t e = {0};
    assert_int_equal(log_init("test", &e), AGG_OK);
    memset(&cap, 0, sizeof cap);
    log_set_sink(sink, &cap);
    log_ctx_clear();
    return 0;
}

static int teardown(void **state) {
    log_set_sink(NULL, NULL);
    log_ctx_clear();
    return 0;
}

/* The one line captured, parsed: one object, newline-terminated, nothing after it. */
static json_t *only_line(void) {
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.lines[0][cap.len[0] - 1], '\n');
    assert_null(memchr(cap.lines[0], '\n', cap.len[0] - 1));
    json_error_t je;
    json_t *o = json_loadb(cap.lines[0], cap.len[0], 0, &je);
    if (!o) fail_msg("not JSON (%s): %s", je.text, cap.lines[0]);
    assert_true(json_is_object(o));
    return o;
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void plain_line_has_the_fixed_keys(void **state) {
    log_info("hello %d", 42);
    json_t *o = only_line();
    assert_string_equal(str(o, "level"), "INFO");
    assert_string_equal(str(o, "component"), "test");
    assert_string_equal(str(o, "msg"), "hello 42");
    assert_non_null(str(o, "ts"));
    assert_true(json_is_object(json_object_get(o, "fields")));
    assert_null(json_object_get(o, "traceId")); /* none known: left out */
    json_decref(o);
}

static void levels_are_upper_case_and_filtered(void **state) {
    setenv("LOG_LEVEL", "WARN", 1);
    assert_int_equal(log_init("test", NULL), AGG_OK);
    log_info("dropped");
    log_debug("dropped");
    log_error("kept");
    json_t *o = only_line();
    assert_string_equal(str(o, "level"), "ERROR");
    json_decref(o);
    assert_false(log_enabled(LOG_INFO));
    setenv("LOG_LEVEL", "loud", 1);
    err_t e = {0};
    assert_int_equal(log_init("test", &e), AGG_ERR);
    assert_non_null(strstr(e.text, "LOG_LEVEL"));
    setenv("LOG_LEVEL", "debug", 1);
    setenv("LOG_FORMAT", "xml", 1);
    assert_int_equal(log_init("test", &e), AGG_ERR);
    assert_non_null(strstr(e.text, "LOG_FORMAT"));
    unsetenv("LOG_FORMAT");
}

static void escaping_keeps_json_valid(void **state) {
    log_kv(LOG_WARN, "quote \" backslash \\ newline \n tab \t bell \a utf8 \xc3\xa9 bad \xff end",
           LOG_STR("k\"ey", "v\x01\"\\\n"), LOG_INT("n", -7), LOG_DBL("d", 1.5),
           LOG_DBL("nan", 0.0 / 0.0), LOG_BOOL("b", 1), LOG_STR("null", NULL));
    json_t *o = only_line();
    assert_string_equal(str(o, "msg"),
                        "quote \" backslash \\ newline \n tab \t bell \a utf8 \xc3\xa9 bad ? end");
    json_t *f = json_object_get(o, "fields");
    assert_string_equal(str(f, "k\"ey"), "v\x01\"\\\n");
    assert_int_equal(json_integer_value(json_object_get(f, "n")), -7);
    assert_true(json_real_value(json_object_get(f, "d")) == 1.5);
    assert_true(json_is_null(json_object_get(f, "nan")));
    assert_true(json_is_true(json_object_get(f, "b")));
    assert_string_equal(str(f, "null"), "");
    json_decref(o);
}

static void long_message_and_values_truncated_whole(void **state) {
    static char big[LOG_MSG_MAX * 3];
    /* Every character needs escaping: the worst case for the line's size. */
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_field many[LOG_FIELDS_MAX + 4];
    char keys[LOG_FIELDS_MAX + 4][8];
    for (int i = 0; i < LOG_FIELDS_MAX + 4; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i] = LOG_STR(keys[i], big);
    }
    log_emit(LOG_ERROR, NULL, big, many, LOG_FIELDS_MAX + 4);
    json_t *o = only_line();
    assert_int_equal(strlen(str(o, "msg")), LOG_MSG_MAX);
    json_t *f = json_object_get(o, "fields");
    assert_int_equal(json_object_size(f), LOG_FIELDS_MAX);
    assert_int_equal(strlen(str(f, "k0")), LOG_VALUE_MAX);
    json_decref(o);

    /* A multi-byte character is never split by the cut. */
    memset(&cap, 0, sizeof cap);
    for (size_t i = 0; i + 2 < sizeof big; i += 2) big[i] = '\xc3', big[i + 1] = '\xa9';
    big[LOG_MSG_MAX - 1] = '\xc3'; /* a sequence straddling the limit */
    big[LOG_MSG_MAX] = '\xa9';
    log_error("%s", big);
    o = only_line();
    assert_true(strlen(str(o, "msg")) <= LOG_MSG_MAX);
    json_decref(o);
}

static void context_and_explicit_context(void **state) {
    log_ctx_set("0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f", "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7");
    log_info("in session");
    json_t *o = only_line();
    assert_string_equal(str(o, "correlationId"), "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f");
    assert_string_equal(str(o, "traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(str(o, "spanId"), "00f067aa0ba902b7");
    json_decref(o);

    memset(&cap, 0, sizeof cap);
    log_ctx ctx = {NULL, "11111111111111111111111111111111", NULL};
    log_emit(LOG_INFO, &ctx, "explicit", NULL, 0);
    o = only_line();
    assert_string_equal(str(o, "traceId"), "11111111111111111111111111111111");
    assert_null(json_object_get(o, "correlationId"));
    json_decref(o);

    memset(&cap, 0, sizeof cap);
    log_ctx_clear();
    log_info("after");
    o = only_line();
    assert_null(json_object_get(o, "traceId"));
    assert_null(json_object_get(o, "correlationId"));
    json_decref(o);
}

static void patient_field_is_hashed(void **state) {
    log_kv(LOG_INFO, "session started", LOG_PATIENT("what do ya want for nothing?"));
    assert_null(strstr(cap.lines[0], "what do ya want"));
    json_t *o = only_line();
    /* RFC 4231 case 2 (key "Jefe"): HMAC begins 5bdcc146bf60754e. */
    assert_string_equal(str(json_object_get(o, "fields"), "patient"), "p-5bdcc146bf60754e");
    json_decref(o);
    char h[LOG_PATIENT_HASH_LEN + 1];
    log_patient_hash("what do ya want for nothing?", h);
    assert_string_equal(h, "p-5bdcc146bf60754e");
}

static void random_key_without_patient_key(void **state) {
    unsetenv("LOG_PATIENT_KEY");
    assert_int_equal(log_init("test", NULL), AGG_OK);
    /* Nothing at start-up (a configuration error that follows must stay one line). */
    assert_int_equal(cap.n, 0);
    log_kv(LOG_INFO, "no patient here", LOG_STR("k", "v"));
    assert_int_equal(cap.n, 1);
    cap.n = 0;
    /* Said once, at WARN, before the first line with a patient field. */
    log_kv(LOG_INFO, "session started", LOG_PATIENT("19121212-1212"));
    assert_int_equal(cap.n, 2);
    assert_non_null(strstr(cap.lines[1], "\"patient\":\"p-"));
    cap.n = 1; /* the first of the two: the warning */
    json_t *o = only_line();
    assert_string_equal(str(o, "level"), "WARN");
    assert_non_null(strstr(str(o, "msg"), "LOG_PATIENT_KEY"));
    json_decref(o);
    cap.n = 0;
    log_kv(LOG_INFO, "session started", LOG_PATIENT("19121212-1212"));
    assert_int_equal(cap.n, 1);
    char h[LOG_PATIENT_HASH_LEN + 1];
    log_patient_hash("what do ya want for nothing?", h);
    assert_string_not_equal(h, "p-5bdcc146bf60754e");
}

/* The key from a mounted file: the same hashes as from the variable; both set is refused. */
static void patient_key_from_a_file(void **state) {
    (void)state;
    char path[] = "/tmp/agg-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "Jefe\n", 5), 5);
    close(fd);
    setenv("LOG_PATIENT_KEY_FILE", path, 1);
    err_t e;
    assert_int_equal(log_init("test", &e), AGG_ERR); /* LOG_PATIENT_KEY is set too */
    assert_non_null(strstr(e.text, "LOG_PATIENT_KEY_FILE"));
    assert_null(strstr(e.text, "Jefe"));
    unsetenv("LOG_PATIENT_KEY");
    assert_int_equal(log_init("test", &e), AGG_OK);
    char h[LOG_PATIENT_HASH_LEN + 1];
    log_patient_hash("what do ya want for nothing?", h);
    assert_string_equal(h, "p-5bdcc146bf60754e");
    unsetenv("LOG_PATIENT_KEY_FILE");
    unlink(path);
}

static void text_format(void **state) {
    setenv("LOG_FORMAT", "text", 1);
    assert_int_equal(log_init("test", NULL), AGG_OK);
    log_ctx_set("cid-1", "4bf92f3577b34da6a3ce929d0e0e4736", NULL);
    log_kv(LOG_WARN, "http request", LOG_STR("route", "/aggregate/stream"), LOG_INT("status", 200),
           LOG_STR("note", "two words"), LOG_PATIENT("what do ya want for nothing?"));
    unsetenv("LOG_FORMAT");
    assert_int_equal(cap.n, 1);
    const char *l = cap.lines[0];
    assert_null(strchr(l, '{'));
    assert_non_null(strstr(l, " WARN  test: http request correlationId=cid-1 "
                              "traceId=4bf92f3577b34da6a3ce929d0e0e4736 route=/aggregate/stream "
                              "status=200 note=\"two words\" patient=p-5bdcc146bf60754e\n"));
    assert_ptr_equal(strchr(l, '\n'), l + cap.len[0] - 1); /* one line */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_line_has_the_fixed_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(levels_are_upper_case_and_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(escaping_keeps_json_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(long_message_and_values_truncated_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(context_and_explicit_context, setup, teardown),
        cmocka_unit_test_setup_teardown(patient_field_is_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(random_key_without_patient_key, setup, teardown),
        cmocka_unit_test_setup_teardown(patient_key_from_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(text_format, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
