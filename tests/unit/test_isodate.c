/* Unit tests for isodate: ISO-8601 note dates, and answer and journalmerge agreeing through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "err.h"
#include "isodate.h"
#include "journalmerge.h"

#define CID "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f"

static const char *const GOOD[] = {"2024-05-01",
                                   "2024-05-01T10:15",
                                   "2024-05-01T10:15:30",
                                   "2024-05-01T10:15:30Z",
                                   "2024-05-01T10:15:30.123Z",
                                   "2024-05-01T10:15:30+02:00",
                                   "2024-05-01T10:15-0530",
                                   "2024-12-31T23:59:60.5+14:00",
                                   "2024-02-29",
                                   "2000-02-29T00:00Z",
                                   "2023-01-31",
                                   "2023-04-30T23:59:59.999999999999-23:59"};

static const char *const BAD[] = {"",
                                  "2024",
                                  "2024-5-01",
                                  "2024-05-1",
                                  "20240501",
                                  "2024-13-01",
                                  "2024-00-10",
                                  "2024-05-32",
                                  "2024-05-00",
                                  "2023-02-29",
                                  "2023-02-30",
                                  "2024-02-30",
                                  "1900-02-29",
                                  "2024-04-31",
                                  "2024-05-01T",
                                  "2024-05-01T25:00",
                                  "2024-05-01T24:00",
                                  "2024-05-01T10:60",
                                  "2024-05-01T10:15:61",
                                  "2024-05-01T1:15",
                                  "2024-05-01 10:15",
                                  "2024-05-01T10:15:30.",
                                  "2024-05-01T10:15:30.Z",
                                  "2024-05-01T10:15:30Zx",
                                  "2024-05-01T10:15:30z",
                                  "2024-05-01T10:15:30+2",
                                  "2024-05-01T10:15:30+24:00",
                                  "2024-05-01T10:15:30+02:60",
                                  "2024-05-01T10:15:30+02:0",
                                  "2024-05-01Z",
                                  "2024-05-01+02:00",
                                  "2024-05-01T10:15.5",
                                  "yesterday"};

#define N(a) (sizeof(a) / sizeof(a)[0])

static int64_t secs_of(const char *s) {
    isodate d;
    assert_int_equal(isodate_parse(s, &d), AGG_OK);
    return d.secs;
}

static int32_t nanos_of(const char *s) {
    isodate d;
    assert_int_equal(isodate_parse(s, &d), AGG_OK);
    return d.nanos;
}

static void accepts_and_rejects(void **state) {
    (void)state;
    isodate d;
    for (size_t i = 0; i < N(GOOD); i++) {
        if (isodate_parse(GOOD[i], &d) != AGG_OK) fail_msg("rejected %s", GOOD[i]);
    }
    for (size_t i = 0; i < N(BAD); i++) {
        d.secs = 42;
        d.nanos = 7;
        if (isodate_parse(BAD[i], &d) != AGG_ERR) fail_msg("accepted %s", BAD[i]);
        assert_int_equal(d.secs, 42); /* left unchanged */
        assert_int_equal(d.nanos, 7);
    }
    assert_int_equal(isodate_parse(NULL, &d), AGG_ERR);
}

static void epoch_seconds(void **state) {
    (void)state;
    assert_int_equal(secs_of("1970-01-01"), 0);
    assert_int_equal(secs_of("1970-01-01T00:00:01Z"), 1);
    assert_int_equal(secs_of("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(secs_of("2024-05-01"), 1714521600);       /* a date alone: midnight UTC */
    assert_int_equal(secs_of("2024-05-01T00:00"), 1714521600); /* no zone: UTC */
    assert_int_equal(secs_of("2024-05-01T00:00:00Z"), 1714521600);
    assert_int_equal(secs_of("2024-03-01") - secs_of("2024-02-28"), 2 * 86400); /* leap year */
    assert_int_equal(secs_of("2023-03-01") - secs_of("2023-02-28"), 86400);
    assert_int_equal(secs_of("2000-03-01") - secs_of("2000-02-28"), 2 * 86400);
    /* a leap second is the next minute's first second */
    assert_int_equal(secs_of("2016-12-31T23:59:60Z"), secs_of("2017-01-01T00:00:00Z"));
}

static void offsets(void **state) {
    (void)state;
    int64_t utc = secs_of("2024-05-01T08:00:00Z");
    assert_int_equal(secs_of("2024-05-01T10:00:00+02:00"), utc);
    assert_int_equal(secs_of("2024-05-01T10:00:00+0200"), utc);
    assert_int_equal(secs_of("2024-05-01T10:00+02:00"), utc);
    assert_int_equal(secs_of("2024-05-01T02:30:00-05:30"), utc);
    assert_int_equal(secs_of("2024-05-01T02:30-0530"), utc);
    assert_int_equal(secs_of("2024-05-01T08:00:00+00:00"), utc);
    assert_int_equal(secs_of("2024-05-01T08:00:00-00:00"), utc);
    assert_int_equal(secs_of("2024-05-02T07:59:00+23:59"), utc);
}

static void fractions(void **state) {
    (void)state;
    assert_int_equal(nanos_of("2024-05-01T10:15:30Z"), 0);
    assert_int_equal(nanos_of("2024-05-01T10:15:30.5Z"), 500000000);
    assert_int_equal(nanos_of("2024-05-01T10:15:30.001Z"), 1000000);
    assert_int_equal(nanos_of("2024-05-01T10:15:30.123456789"), 123456789);
    assert_int_equal(nanos_of("2024-05-01T10:15:30.1234567899999+01:00"), 123456789);
    assert_int_equal(secs_of("2024-05-01T10:15:30.999Z"), secs_of("2024-05-01T10:15:30Z"));
}

/* answer_parse accepts a note with this date. */
static int answer_accepts(const char *date) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"source\":\"r1\",\"patientId\":\"p1\",\"correlationId\":\"" CID "\","
             "\"status\":\"ok\",\"notes\":[{\"id\":\"a\",\"date\":\"%s\",\"caregiverId\":\"c\","
             "\"patientId\":\"p1\",\"doctorId\":\"d\",\"note\":\"n\"}]}",
             date);
    answer_msg m;
    api_error e;
    int rc = answer_parse(body, strlen(body), &m, &e);
    answer_clear(&m);
    return rc == AGG_OK;
}

/* journalmerge_build orders a note with this date by its time: before a note of
 * 1970-01-01 (a date it can read), where an unreadable date would go after it. */
static int merge_reads(const char *date) {
    char data[512];
    snprintf(data, sizeof data,
             "{\"source\":\"r1\",\"status\":\"ok\",\"notes\":[{\"id\":\"old\",\"date\":"
             "\"1970-01-01\"},{\"id\":\"x\",\"date\":\"%s\"}]}",
             date);
    const log_event ev[] = {
        {1, "callback", data},
        {2, "summary",
         "{\"correlationId\":\"" CID "\",\"respondents\":1,\"errors\":0,"
         "\"completedBy\":\"ALL_RESPONDED\"}"},
    };
    char *out = NULL;
    err_t e;
    assert_int_equal(journalmerge_build("p1", ev, 2, &out, &e), AGG_OK);
    json_t *o = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(o);
    json_t *first = json_array_get(json_object_get(o, "notes"), 0);
    int read = strcmp(json_string_value(json_object_get(first, "id")), "x") == 0;
    json_decref(o);
    return read;
}

/* Dates that the two used to judge differently (journalmerge read a month 13,
 * a 30 February and an empty fraction; answer took the 30 February too) are
 * now refused by both, and every date one takes the other reads. */
static void answer_and_journalmerge_agree(void **state) {
    (void)state;
    for (size_t i = 0; i < N(GOOD); i++) {
        assert_true(answer_accepts(GOOD[i]));
        assert_true(merge_reads(GOOD[i]));
    }
    for (size_t i = 0; i < N(BAD); i++) {
        assert_false(answer_accepts(BAD[i]));
        assert_false(merge_reads(BAD[i]));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_and_rejects),
        cmocka_unit_test(epoch_seconds),
        cmocka_unit_test(offsets),
        cmocka_unit_test(fractions),
        cmocka_unit_test(answer_and_journalmerge_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
