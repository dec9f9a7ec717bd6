/* loop: the single-threaded epoll event loop that every program runs on. */
#ifndef AGG_LOOP_H
#define AGG_LOOP_H

#include "err.h"
#include "list.h"

/* Ownership: a loop owns its watcher table and timers. Callbacks run on the
 * loop's thread only. Nothing here is thread-safe except loop_stop(). */

typedef struct loop loop;
typedef struct loop_timer loop_timer;

enum {
    LOOP_READ = 1u,  /* EPOLLIN */
    LOOP_WRITE = 2u, /* EPOLLOUT */
    LOOP_HUP = 4u    /* EPOLLRDHUP: peer closed its side (reported with HUP/ERR too) */
};

/* events: the LOOP_* bits that fired, plus LOOP_HUP on EPOLLHUP/EPOLLERR. */
typedef void loop_fd_cb(loop *l, int fd, unsigned events, void *arg);
typedef void loop_timer_cb(loop *l, void *arg);
typedef void loop_hook_cb(loop *l, void *arg);

/* Returns a new loop, or NULL with e filled. Free with loop_free(). */
loop *loop_new(err_t *e);
/* Frees the loop; watchers, pending timers and queued flushes are dropped without callbacks
 * (a dropped flush is left on no queue). */
void loop_free(loop *l);

/* Watches fd for the given LOOP_* events, replacing an earlier watch of the
 * same fd. The loop does not own fd. AGG_ERR when epoll refuses it. */
int loop_watch(loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg, err_t *e);
/* Stops watching fd; a no-op when fd is not watched. Safe inside callbacks. */
void loop_unwatch(loop *l, int fd);
/* Stops calling back for fd without a system call: its epoll registration stays, so that a
 * loop_watch of fd for the same events soon after costs none either (an idle keep-alive
 * connection between two requests: two epoll_ctl saved per request). An event on a parked fd
 * unwatches it then (no callback). The owner must loop_unwatch a parked fd before closing it:
 * the loop cannot see the close, and would take a new fd of that number for registered. A
 * no-op when fd is not watched. */
void loop_park(loop *l, int fd);

/* Calls cb once, at or after loop_now_ms() + delay_ms. The returned handle
 * is valid until the callback has started or loop_timer_cancel() returned.
 * NULL only on out of memory. */
loop_timer *loop_timer_add(loop *l, long long delay_ms, loop_timer_cb *cb, void *arg);
/* Cancels a timer that has not fired yet; t may be NULL. */
void loop_timer_cancel(loop *l, loop_timer *t);
/* Calls cb once on the loop's next pass (timers run before it waits): how a
 * function that takes a callback answers "at once" without calling it from
 * inside itself (the libuv rule). A timer handle like loop_timer_add's;
 * NULL only on out of memory. */
loop_timer *loop_defer(loop *l, loop_timer_cb *cb, void *arg);

/* Registers hook, called before each wait (the owner recomputes what it needs,
 * e.g. libmicrohttpd's timeout); arg is the hook's, borrowed until removed.
 * At most 16 hooks: AGG_ERR with e filled past that. A hook may remove
 * itself or another; the others still run in that pass. */
int loop_add_prepare(loop *l, loop_hook_cb *hook, void *arg, err_t *e);

/* Removes a hook added with the same cb and arg; a no-op when absent. */
void loop_remove_prepare(loop *l, loop_hook_cb *hook, void *arg);

/* A flush: work queued during a pass that runs once, after the prepare hooks, right before
 * the loop next waits. Why: output buffered by the callbacks and hooks of one pass goes out in
 * one write, without asking epoll for writability (two epoll_ctl and one more wake-up per
 * write). Embedded by its owner: loop_flush_init it, then queue it as often as needed; it is
 * on the loop's queue at most once. A flush queued while the queue runs runs in the same
 * pass, so nothing queued waits through a sleep; cb must not queue its own flush again (it
 * would run again at once). */
typedef struct loop_flush {
    loop_hook_cb *cb;
    void *arg;
    list_node node; /* on the loop's queue while queued */
} loop_flush;

/* Makes f a flush that calls cb(l, arg), on no queue. Nothing to free. */
void loop_flush_init(loop_flush *f, loop_hook_cb *cb, void *arg);
/* Queues f to run before the next wait; a no-op when it is queued already. */
void loop_flush_queue(loop *l, loop_flush *f);
/* Takes f off the queue; a no-op when it is not queued. Owners call it before freeing f. */
void loop_flush_cancel(loop_flush *f);

/* Caps the next wait at ms milliseconds (used by prepare hooks). */
void loop_limit_wait(loop *l, long long ms);

/* Runs until loop_stop(). Returns AGG_OK, or AGG_ERR when epoll fails. After each callback
 * (timer, watch, prepare hook) the log context (log_ctx_set) is cleared: a callback that works
 * for one session sets it on entry and need not clear it. */
int loop_run(loop *l);
/* Asks the loop to return from loop_run(); async-signal-safe and thread-safe. */
void loop_stop(loop *l);
/* Arranges for SIGINT and SIGTERM to call loop_stop(l); SIGPIPE is ignored. */
int loop_stop_on_signals(loop *l, err_t *e);

/* Monotonic milliseconds, for deadlines inside one process. */
long long loop_now_ms(void);
/* Monotonic nanoseconds, for durations measured in metrics (the same clock as loop_now_ms). */
long long loop_now_ns(void);
/* Wall-clock milliseconds since the epoch, for values shared between processes. */
long long loop_wall_ms(void);

#endif
