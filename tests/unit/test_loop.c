/* test_loop: timers fire in order, cancel works, fd watches fire, flushes run before the wait,
 * a parked fd costs no callback and can be watched again, stop returns. */
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

/* Parked fds: a prepare hook that stops the loop on its second pass; the first pass's wait
 * takes whatever is ready then. */
static void stop_on_second_pass(loop *l, void *arg) {
    int *passes = arg;
    if (++*passes == 2) loop_stop(l);
    loop_limit_wait(l, 0);
}

static void count_readable(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)fd;
    (void)events;
    ++*(int *)arg;
}

static void parked_fd_is_not_called_back_and_can_be_watched_again(void **state) {
    (void)state;
    loop *l = loop_new(NULL);
    int p[2];
    assert_int_equal(pipe(p), 0);
    int passes = 0, calls = 0;
    assert_int_equal(loop_add_prepare(l, stop_on_second_pass, &passes, NULL), AGG_OK);
    /* Parked, then watched again for the same events before anything arrived: called. */
    assert_int_equal(loop_watch(l, p[0], LOOP_READ, count_readable, &calls, NULL), AGG_OK);
    loop_park(l, p[0]);
    assert_int_equal(loop_watch(l, p[0], LOOP_READ, count_readable, &calls, NULL), AGG_OK);
    assert_int_equal(write(p[1], "x", 1), 1);
    loop_run(l);
    assert_int_equal(calls, 1);
    /* Parked when the byte (still unread) shows: no call, and the fd is unwatched. */
    loop_park(l, p[0]);
    passes = 0;
    loop_run(l);
    assert_int_equal(calls, 1);
    /* Unwatched for real: a watch adds it again, and the unread byte is reported. */
    assert_int_equal(loop_watch(l, p[0], LOOP_READ, count_readable, &calls, NULL), AGG_OK);
    passes = 0;
    loop_run(l);
    assert_int_equal(calls, 2);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* Flushes: what each ran, and in which pass (counted by a prepare hook). */
typedef struct flushes {
    loop_flush a, b, c;
    int passes;
    int ran[8], ran_pass[8], n;
} flushes;

static void note_flush(flushes *f, int id) {
    f->ran[f->n] = id;
    f->ran_pass[f->n] = f->passes;
    f->n++;
}

static void flush_b(loop *l, void *arg) {
    (void)l;
    note_flush(arg, 2);
}

static void flush_a(loop *l, void *arg) {
    flushes *f = arg;
    note_flush(f, 1);
    loop_flush_queue(l, &f->b); /* queued while the queue runs: same pass */
}

static void flush_c(loop *l, void *arg) {
    (void)l;
    note_flush(arg, 3);
}

static void count_pass(loop *l, void *arg) {
    flushes *f = arg;
    f->passes++;
    if (f->passes == 1) {
        loop_flush_queue(l, &f->a);
        loop_flush_queue(l, &f->a); /* queued once */
        loop_flush_queue(l, &f->c);
        loop_flush_cancel(&f->c);
        loop_limit_wait(l, 0);
    } else {
        loop_stop(l);
    }
}

static void flushes_run_once_after_the_hooks_before_the_wait(void **state) {
    (void)state;
    loop *l = loop_new(NULL);
    assert_non_null(l);
    flushes f = {0};
    loop_flush_init(&f.a, flush_a, &f);
    loop_flush_init(&f.b, flush_b, &f);
    loop_flush_init(&f.c, flush_c, &f);
    assert_int_equal(loop_add_prepare(l, count_pass, &f, NULL), AGG_OK);
    assert_int_equal(loop_run(l), AGG_OK);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.ran[0], 1);
    assert_int_equal(f.ran[1], 2);
    assert_int_equal(f.ran_pass[0], 1);
    assert_int_equal(f.ran_pass[1], 1);
    assert_int_equal(f.passes, 2);
    /* A flush still queued when its loop is freed is left on no queue. */
    loop_flush_queue(l, &f.c);
    loop_free(l);
    assert_false(list_linked(&f.c.node));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_due_order),
        cmocka_unit_test(equal_due_times_fire_in_insertion_order),
        cmocka_unit_test(fd_watch_reports_readable),
        cmocka_unit_test(parked_fd_is_not_called_back_and_can_be_watched_again),
        cmocka_unit_test(flushes_run_once_after_the_hooks_before_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
