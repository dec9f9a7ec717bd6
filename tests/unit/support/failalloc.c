/* failalloc: a test allocator that fails the Nth allocation after it is armed (hiredis-style). */
#include "failalloc.h"

#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"

/* Atomic: librdkafka's and curl's threads never allocate through us, but a
 * test must not depend on that to count right. */
static size_t fail_at, count;
static int fired, paused;

static int should_fail(void) {
    if (paused) return 0;
    size_t n = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    if (fail_at != 0 && n == fail_at) {
        fired = 1;
        if (getenv("FAILALLOC_TRACE")) { /* where the failed allocation was made, for debugging */
            void *frames[16];
            backtrace_symbols_fd(frames, backtrace(frames, 16), STDERR_FILENO);
        }
        return 1;
    }
    return 0;
}

static void *f_malloc(size_t n) { return should_fail() ? NULL : malloc(n); }
static void *f_calloc(size_t c, size_t s) { return should_fail() ? NULL : calloc(c, s); }
static void *f_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n); }

void failalloc_arm(size_t n) {
    static const agg_allocator a = {f_malloc, f_calloc, f_realloc, free};
    __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
    fail_at = n;
    fired = 0;
    paused = 0;
    agg_set_allocator(&a);
}

void failalloc_disarm(void) {
    agg_set_allocator(NULL);
    fail_at = 0;
}

void failalloc_pause(int p) { paused = p; }

size_t failalloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

int failalloc_fired(void) { return fired; }
