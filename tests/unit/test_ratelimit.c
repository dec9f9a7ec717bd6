/* test_ratelimit: token buckets per client: the burst, the refill, the headers' figures, separate clients, a bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "failalloc.h"
#include "ratelimit.h"

static void a_burst_then_refusals_then_the_refill(void **state) {
    (void)state;
    ratelimit *rl = ratelimit_new(2, 3, 64, NULL); /* 2 a second, burst 3 */
    assert_non_null(rl);
    ratelimit_result r;
    for (int i = 0; i < 3; i++) {
        ratelimit_take(rl, "10.0.0.1", 1000, &r);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 3);
        assert_int_equal(r.remaining, 2 - i);
    }
    ratelimit_take(rl, "10.0.0.1", 1000, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_s, 1); /* half a second, rounded up */
    assert_int_equal(r.reset_s, 2);       /* 3 tokens at 2/s */
    ratelimit_take(rl, "10.0.0.1", 1499, &r);
    assert_false(r.allowed);
    ratelimit_take(rl, "10.0.0.1", 1500, &r); /* one token back */
    assert_true(r.allowed);
    ratelimit_take(rl, "10.0.0.1", 60000, &r); /* never more than the burst */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    ratelimit_free(rl);
}

static void clients_have_their_own_buckets(void **state) {
    (void)state;
    ratelimit *rl = ratelimit_new(1, 1, 64, NULL);
    ratelimit_result r;
    ratelimit_take(rl, "a", 0, &r);
    assert_true(r.allowed);
    ratelimit_take(rl, "a", 0, &r);
    assert_false(r.allowed);
    ratelimit_take(rl, "b", 0, &r);
    assert_true(r.allowed);
    ratelimit_take(rl, "", 0, &r); /* no identity: one shared bucket */
    assert_true(r.allowed);
    ratelimit_take(rl, NULL, 0, &r);
    assert_false(r.allowed);
    ratelimit_free(rl);
}

/* A flood of new clients evicts the least recently seen: the table never grows, and the client
 * seen last keeps its (spent) bucket. */
static void a_flood_of_clients_stays_in_the_table(void **state) {
    (void)state;
    ratelimit *rl = ratelimit_new(0.001, 1, 16, NULL);
    ratelimit_result r;
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "client-%d", i);
        ratelimit_take(rl, name, i, &r);
        assert_true(r.allowed); /* each new client starts with its full bucket */
    }
    /* The most recent one is still there, with its bucket spent. */
    ratelimit_take(rl, "client-9999", 10000, &r);
    assert_false(r.allowed);
    /* A long client key is cut, not overflowed. */
    char longname[200];
    memset(longname, 'k', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ratelimit_take(rl, longname, 10001, &r);
    assert_true(r.allowed);
    ratelimit_take(rl, longname, 10002, &r);
    assert_false(r.allowed);
    ratelimit_free(rl);
}

static void bad_settings_and_allocation_failures(void **state) {
    (void)state;
    err_t e;
    assert_null(ratelimit_new(0, 1, 64, &e));
    assert_null(ratelimit_new(1, 0.5, 64, &e));
    assert_null(ratelimit_new(1, 1, 4, &e));
    assert_non_null(strstr(e.text, "rps > 0"));
    for (size_t n = 1;; n++) {
        failalloc_arm(n);
        ratelimit *rl = ratelimit_new(1, 1, 64, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_non_null(rl);
            ratelimit_free(rl);
            break;
        }
        assert_null(rl);
        assert_true(err_is_nomem(&e));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_burst_then_refusals_then_the_refill),
        cmocka_unit_test(clients_have_their_own_buckets),
        cmocka_unit_test(a_flood_of_clients_stays_in_the_table),
        cmocka_unit_test(bad_settings_and_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
