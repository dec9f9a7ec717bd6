/* alloc: the project's allocator, behind a replaceable table so that tests can fail any allocation. */
#include "alloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static agg_allocator current = {malloc, calloc, realloc, free};
static _Thread_local unsigned long failures;

/* Counts a failed allocation; returns p. */
static void *counted(void *p) {
    if (!p) failures++;
    return p;
}

unsigned long agg_alloc_failures(void) { return failures; }

/* jansson allocates through us from the first call on: one allocator, one
 * set of failure paths. Runs before main, when the library is linked. */
__attribute__((constructor)) static void hook_jansson(void) {
    json_set_alloc_funcs(agg_malloc, agg_free);
}

void *agg_malloc(size_t n) { return counted(current.malloc_fn(n)); }

void *agg_calloc(size_t count, size_t size) { return counted(current.calloc_fn(count, size)); }

void *agg_realloc(void *p, size_t n) { return counted(current.realloc_fn(p, n)); }

void agg_free(void *p) { current.free_fn(p); }

char *agg_strdup(const char *s) { return agg_strndup(s, strlen(s)); }

char *agg_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = agg_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

agg_allocator agg_set_allocator(const agg_allocator *a) {
    agg_allocator old = current;
    if (a)
        current = *a;
    else
        current = (agg_allocator){malloc, calloc, realloc, free};
    return old;
}
