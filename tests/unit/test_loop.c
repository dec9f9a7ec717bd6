/* test_loop: timers fire in order, cancel works, fd watches fire, stop returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

typedef struct trace {
    int order[16];
    int n;
} trace;

typedef struct tick {
    trace *tr;
    int id;
} tick;

static void on_tick(loop *l, void *arg) {
    tick *t = arg;
    t->tr->order[t->tr->n++] = t->id;
    if (t->tr->n == 3) loop_stop(l);
}

static void timers_fire_in_due_order(void **state) {
    (void)state;
    loop *l = loop_new(NULL);
    assert_non_null(l);
    trace tr = {0};
    tick a = {&tr, 1}, b = {&tr, 2}, c = {&tr, 3}, d = {&tr, 4};
    assert_non_null(loop_timer_add(l, 30, on_tick, &c));
    assert_non_null(loop_timer_add(l, 10, on_tick, &a));
    loop_timer *cancelled = loop_timer_add(l, 15, on_tick, &d);
    assert_non_null(loop_timer_add(l, 20, on_tick, &b));
    loop_timer_cancel(l, cancelled);
    assert_int_equal(loop_run(l), AGG_OK);
    assert_int_equal(tr.n, 3);
    assert_int_equal(tr.order[0], 1);
    assert_int_equal(tr.order[1], 2);
    assert_int_equal(tr.order[2], 3);
    loop_free(l);
}

static void equal_due_times_fire_in_insertion_order(void **state) {
    (void)state;
    loop *l = loop_new(NULL);
    trace tr = {0};
    tick a = {&tr, 1}, b = {&tr, 2}, c = {&tr, 3};
    loop_timer_add(l, 0, on_tick, &a);
    loop_timer_add(l, 0, on_tick, &b);
    loop_timer_add(l, 0, on_tick, &c);
    loop_run(l);
    assert_int_equal(tr.order[0], 1);
    assert_int_equal(tr.order[1], 2);
    assert_int_equal(tr.order[2], 3);
    loop_free(l);
}

typedef struct pipe_state {
    int reads;
    char got;
} pipe_state;

static void on_readable(loop *l, int fd, unsigned events, void *arg) {
    pipe_state *ps = arg;
    assert_true(events & LOOP_READ);
    assert_int_equal(read(fd, &ps->got, 1), 1);
    ps->reads++;
    loop_unwatch(l, fd);
    loop_stop(l);
}

static void on_deadline(loop *l, void *arg) {
    (void)arg;
    loop_stop(l);
}

static void fd_watch_reports_readable(void **state) {
    (void)state;
    loop *l = loop_new(NULL);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pipe_state ps = {0};
    assert_int_equal(loop_watch(l, p[0], LOOP_READ, on_readable, &ps, NULL), AGG_OK);
    assert_int_equal(write(p[1], "x", 1), 1);
    loop_timer *deadline = loop_timer_add(l, 5000, on_deadline, NULL);
    loop_run(l);
    assert_int_equal(ps.reads, 1);
    assert_int_equal(ps.got, 'x');
    loop_timer_cancel(l, deadline);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_due_order),
        cmocka_unit_test(equal_due_times_fire_in_insertion_order),
        cmocka_unit_test(fd_watch_reports_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
