/* Unit tests for procstat: /proc texts parsed into the process_* values, and the reader on this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "procstat.h"

/* A real line of /proc/self/stat, with a command name holding ") (" to fool a naive parser:
 * utime 250, stime 50, starttime 1000, vsize 123456789, rss 2000. */
static const char SELF_STAT[] =
    "4242 (my) (prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 3 0 1000 "
    "123456789 2000 18446744073709551615 1 1 0 0 0 0 0 4096 17922 0 0 0 17 1 0 0 0 0 0\n";
static const char PROC_STAT[] = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5 6 7\nbtime 1700000000\n"
                                "processes 99\n";

static procstat_input input(void) {
    procstat_input in = {.self_stat = SELF_STAT,
                         .proc_stat = PROC_STAT,
                         .clk_tck = 100,
                         .page_size = 4096,
                         .open_fds = 12,
                         .max_fds = 1024};
    return in;
}

static void test_parse_fixed_input(void **state) {
    (void)state;
    procstat_input in = input();
    procstat p;
    err_t e;
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_OK);
    assert_true(p.cpu_seconds == 3.0);
    assert_true(p.start_time_seconds == 1700000010.0);
    assert_true(p.virtual_bytes == 123456789.0);
    assert_true(p.resident_bytes == 2000.0 * 4096);
    assert_true(p.open_fds == 12);
    assert_true(p.max_fds == 1024);
}

static void test_parse_btime_alone(void **state) {
    (void)state;
    procstat_input in = input();
    in.proc_stat = "btime 5\n"; /* what the reader hands over: the one line */
    procstat p;
    assert_int_equal(procstat_parse(&in, &p, NULL), AGG_OK);
    assert_true(p.start_time_seconds == 15.0);
}

static void test_parse_rejects_bad_texts(void **state) {
    (void)state;
    procstat p;
    err_t e;
    procstat_input in = input();
    in.self_stat = "4242 no parenthesis S 1";
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    in.self_stat = "4242 (prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250\n"; /* truncated */
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "field 15"));
    in.self_stat = "4242 (prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 50 0 0 20 0 3 0 1000 1 2\n";
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    in = input();
    in.proc_stat = "cpu 1 2 3\nxbtime 5\n";
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "btime"));
    in.proc_stat = "btime 5x\n";
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    in.proc_stat = NULL;
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
    in = input();
    in.clk_tck = 0;
    assert_int_equal(procstat_parse(&in, &p, &e), AGG_ERR);
}

static void test_read_this_process(void **state) {
    (void)state;
    procstat p;
    err_t e;
    assert_int_equal(procstat_read(&p, &e), AGG_OK);
    assert_true(p.resident_bytes > 0);
    assert_true(p.virtual_bytes >= p.resident_bytes);
    assert_true(p.open_fds >= 3); /* stdin, stdout, stderr */
    assert_true(p.start_time_seconds > 1e9);
    assert_true(p.max_fds == -1 || p.max_fds >= p.open_fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fixed_input),
        cmocka_unit_test(test_parse_btime_alone),
        cmocka_unit_test(test_parse_rejects_bad_texts),
        cmocka_unit_test(test_read_this_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
