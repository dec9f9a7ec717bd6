/* loop: the single-threaded epoll event loop that every program runs on. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

typedef struct watcher {
    loop_fd_cb *cb;
    void *arg;
    unsigned events;
    unsigned gen; /* bumped on every (un)watch so stale epoll events are ignored */
    int active;
    int parked; /* loop_park: registered in epoll, no callback wanted */
} watcher;

struct loop_timer {
    long long due;
    unsigned long long order; /* FIFO among equal due times */
    loop_timer_cb *cb;
    void *arg;
    size_t heap_index;
};

typedef struct hook {
    loop_hook_cb *cb;
    void *arg;
} hook;

struct loop {
    int epfd;
    int wakefd;
    volatile sig_atomic_t stopping;
    watcher *w;
    size_t w_cap;
    loop_timer **heap;
    size_t heap_len, heap_cap;
    unsigned long long timer_seq;
    hook hooks[16];
    int n_hooks;
    int hook_at; /* index of the hook running now, -1 between runs (removal may happen in one) */
    long long wait_cap;
    list_node flushes; /* loop_flush.node, in the order queued */
};

static loop *signal_loop;

long long loop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long loop_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long loop_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

loop *loop_new(err_t *e) {
    loop *l = agg_calloc(1, sizeof *l);
    if (!l) {
        err_nomem(e);
        return NULL;
    }
    l->hook_at = -1;
    list_init(&l->flushes);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->wakefd < 0) {
        err_set(e, "epoll/eventfd: %s", strerror(errno));
        if (l->epfd >= 0) close(l->epfd);
        if (l->wakefd >= 0) close(l->wakefd);
        agg_free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
        err_set(e, "epoll_ctl: %s", strerror(errno));
        close(l->epfd);
        close(l->wakefd);
        agg_free(l);
        return NULL;
    }
    l->wait_cap = -1;
    return l;
}

void loop_free(loop *l) {
    if (!l) return;
    if (signal_loop == l) signal_loop = NULL;
    while (!list_empty(&l->flushes)) list_remove(list_first(&l->flushes));
    for (size_t i = 0; i < l->heap_len; i++) agg_free(l->heap[i]);
    agg_free(l->heap);
    agg_free(l->w);
    close(l->epfd);
    close(l->wakefd);
    agg_free(l);
}

static int grow_watchers(loop *l, int fd) {
    if ((size_t)fd < l->w_cap) return AGG_OK;
    size_t cap = l->w_cap ? l->w_cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    watcher *w = agg_realloc(l->w, cap * sizeof *w);
    if (!w) return AGG_ERR;
    memset(w + l->w_cap, 0, (cap - l->w_cap) * sizeof *w);
    l->w = w;
    l->w_cap = cap;
    return AGG_OK;
}

static uint32_t to_epoll(unsigned events) {
    uint32_t ev = 0;
    if (events & LOOP_READ) ev |= EPOLLIN;
    if (events & LOOP_WRITE) ev |= EPOLLOUT;
    if (events & LOOP_HUP) ev |= EPOLLRDHUP;
    return ev;
}

int loop_watch(loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg, err_t *e) {
    if (fd < 0) return err_set(e, "invalid fd %d", fd);
    if (grow_watchers(l, fd) != AGG_OK) return err_nomem(e);
    watcher *w = &l->w[fd];
    if (w->active && w->parked && w->events == events) {
        w->parked = 0; /* still registered for these events: no system call */
        w->cb = cb;
        w->arg = arg;
        return AGG_OK;
    }
    w->gen++;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = ((uint64_t)w->gen << 32) | (uint32_t)fd};
    int op = w->active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
        /* The fd may have been closed and reused without an unwatch. */
        if (op == EPOLL_CTL_MOD && errno == ENOENT)
            op = EPOLL_CTL_ADD;
        else if (op == EPOLL_CTL_ADD && errno == EEXIST)
            op = EPOLL_CTL_MOD;
        else
            return err_set(e, "epoll_ctl(%d): %s", fd, strerror(errno));
        if (epoll_ctl(l->epfd, op, fd, &ev) != 0)
            return err_set(e, "epoll_ctl(%d): %s", fd, strerror(errno));
    }
    w->cb = cb;
    w->arg = arg;
    w->events = events;
    w->active = 1;
    w->parked = 0;
    return AGG_OK;
}

void loop_park(loop *l, int fd) {
    if (fd < 0 || (size_t)fd >= l->w_cap || !l->w[fd].active) return;
    l->w[fd].parked = 1;
}

void loop_unwatch(loop *l, int fd) {
    if (fd < 0 || (size_t)fd >= l->w_cap || !l->w[fd].active) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->w[fd].active = 0;
    l->w[fd].parked = 0;
    l->w[fd].gen++;
    l->w[fd].cb = NULL;
    l->w[fd].arg = NULL;
}

/* --- timers: a binary min-heap ordered by (due, order) --- */

static int timer_before(const loop_timer *a, const loop_timer *b) {
    return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_set(loop *l, size_t i, loop_timer *t) {
    l->heap[i] = t;
    t->heap_index = i;
}

static void heap_up(loop *l, size_t i) {
    loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, l->heap[parent])) break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void heap_down(loop *l, size_t i) {
    loop_timer *t = l->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->heap_len) break;
        if (child + 1 < l->heap_len && timer_before(l->heap[child + 1], l->heap[child])) child++;
        if (!timer_before(l->heap[child], t)) break;
        heap_set(l, i, l->heap[child]);
        i = child;
    }
    heap_set(l, i, t);
}

static void heap_remove(loop *l, size_t i) {
    l->heap_len--;
    if (i == l->heap_len) return;
    heap_set(l, i, l->heap[l->heap_len]);
    heap_down(l, i);
    heap_up(l, l->heap[i]->heap_index);
}

loop_timer *loop_timer_add(loop *l, long long delay_ms, loop_timer_cb *cb, void *arg) {
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        loop_timer **h = agg_realloc(l->heap, cap * sizeof *h);
        if (!h) return NULL;
        l->heap = h;
        l->heap_cap = cap;
    }
    loop_timer *t = agg_malloc(sizeof *t);
    if (!t) return NULL;
    t->due = loop_now_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->order = l->timer_seq++;
    t->cb = cb;
    t->arg = arg;
    heap_set(l, l->heap_len++, t);
    heap_up(l, t->heap_index);
    return t;
}

loop_timer *loop_defer(loop *l, loop_timer_cb *cb, void *arg) {
    return loop_timer_add(l, 0, cb, arg);
}

void loop_timer_cancel(loop *l, loop_timer *t) {
    if (!t) return;
    heap_remove(l, t->heap_index);
    agg_free(t);
}

static void run_due_timers(loop *l) {
    long long now = loop_now_ms();
    /* Timers added by callbacks in this pass wait for the next pass, so a
     * timer that re-arms itself with delay 0 cannot starve I/O. */
    unsigned long long limit = l->timer_seq;
    while (l->heap_len > 0 && l->heap[0]->due <= now && l->heap[0]->order < limit) {
        loop_timer *t = l->heap[0];
        heap_remove(l, 0);
        loop_timer_cb *cb = t->cb;
        void *arg = t->arg;
        agg_free(t);
        cb(l, arg);
        log_ctx_clear(); /* a callback's session context ends with it */
    }
}

int loop_add_prepare(loop *l, loop_hook_cb *cb, void *arg, err_t *e) {
    int max = (int)(sizeof l->hooks / sizeof l->hooks[0]);
    if (l->n_hooks >= max) return err_set(e, "the loop has its %d prepare hooks already", max);
    l->hooks[l->n_hooks].cb = cb;
    l->hooks[l->n_hooks].arg = arg;
    l->n_hooks++;
    return AGG_OK;
}

void loop_remove_prepare(loop *l, loop_hook_cb *cb, void *arg) {
    for (int i = 0; i < l->n_hooks; i++) {
        if (l->hooks[i].cb == cb && l->hooks[i].arg == arg) {
            memmove(&l->hooks[i], &l->hooks[i + 1],
                    (size_t)(l->n_hooks - i - 1) * sizeof l->hooks[0]);
            l->n_hooks--;
            if (l->hook_at >= i) l->hook_at--; /* the hooks after it still run this time */
            return;
        }
    }
}

void loop_flush_init(loop_flush *f, loop_hook_cb *cb, void *arg) {
    f->cb = cb;
    f->arg = arg;
    list_init(&f->node);
}

void loop_flush_queue(loop *l, loop_flush *f) {
    if (!list_linked(&f->node)) list_insert_before(&l->flushes, &f->node);
}

void loop_flush_cancel(loop_flush *f) { list_remove(&f->node); }

/* Runs the queue until it is empty: a flush may queue another (never itself, see loop.h). */
static void run_flushes(loop *l) {
    while (!list_empty(&l->flushes)) {
        loop_flush *f = list_entry(list_first(&l->flushes), loop_flush, node);
        list_remove(&f->node);
        f->cb(l, f->arg);
        log_ctx_clear();
    }
}

void loop_limit_wait(loop *l, long long ms) {
    if (ms < 0) ms = 0;
    if (l->wait_cap < 0 || ms < l->wait_cap) l->wait_cap = ms;
}

int loop_run(loop *l) {
    struct epoll_event events[256];
    while (!l->stopping) {
        run_due_timers(l);
        l->wait_cap = -1;
        for (l->hook_at = 0; l->hook_at < l->n_hooks; l->hook_at++)
        {
            l->hooks[l->hook_at].cb(l, l->hooks[l->hook_at].arg);
            log_ctx_clear();
        }
        l->hook_at = -1;
        run_flushes(l);
        if (l->stopping) break;
        long long timeout = l->wait_cap;
        if (l->heap_len > 0) {
            long long until = l->heap[0]->due - loop_now_ms();
            if (until < 0) until = 0;
            if (timeout < 0 || until < timeout) timeout = until;
        }
        if (timeout > 60000) timeout = 60000;
        int n = epoll_wait(l->epfd, events, 256, (int)timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AGG_ERR;
        }
        for (int i = 0; i < n; i++) {
            uint64_t data = events[i].data.u64;
            if (data == UINT64_MAX) {
                uint64_t v;
                while (read(l->wakefd, &v, sizeof v) > 0) {
                }
                continue;
            }
            int fd = (int)(uint32_t)data;
            unsigned gen = (unsigned)(data >> 32);
            if ((size_t)fd >= l->w_cap) continue;
            watcher *w = &l->w[fd];
            if (!w->active || w->gen != gen || !w->cb) continue;
            if (w->parked) { /* nobody waits for it: stop watching now */
                loop_unwatch(l, fd);
                continue;
            }
            uint32_t ev = events[i].events;
            unsigned fired = 0;
            if (ev & EPOLLIN) fired |= LOOP_READ;
            if (ev & EPOLLOUT) fired |= LOOP_WRITE;
            if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) fired |= LOOP_HUP;
            w->cb(l, fd, fired, w->arg);
            log_ctx_clear();
        }
    }
    l->stopping = 0;
    return AGG_OK;
}

void loop_stop(loop *l) {
    l->stopping = 1;
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof one);
    (void)r;
}

static void on_signal(int sig) {
    (void)sig;
    if (signal_loop) loop_stop(signal_loop);
}

int loop_stop_on_signals(loop *l, err_t *e) {
    signal_loop = l;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return err_set(e, "sigaction: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    return AGG_OK;
}
