/* alloc: the project's allocator, behind a replaceable table so that tests can fail any allocation. */
#ifndef AGG_ALLOC_H
#define AGG_ALLOC_H

#include <stddef.h>

/* Like their libc namesakes (NULL on out of memory), through the current
 * allocator. Every allocation of the project goes through these, and so do
 * jansson's (alloc.c registers them with json_set_alloc_funcs). */
void *agg_malloc(size_t n);
void *agg_calloc(size_t count, size_t size);
void *agg_realloc(void *p, size_t n);
char *agg_strdup(const char *s);
char *agg_strndup(const char *s, size_t n);
void agg_free(void *p);

/* How many allocations on this thread have failed so far: a caller learns
 * whether a library call that gives no reason (jansson reports running out
 * of memory inside its reader as a syntax error) failed for lack of memory
 * by comparing the count before and after. */
unsigned long agg_alloc_failures(void);

typedef struct agg_allocator {
    void *(*malloc_fn)(size_t);
    void *(*calloc_fn)(size_t, size_t);
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
} agg_allocator;

/* Replaces the allocator and returns the one it replaced; NULL restores
 * libc's. Memory must be freed by the allocator family that made it, so a
 * replacement wraps libc's (as tests do) rather than using another heap.
 * Call it while no other thread allocates through it. */
agg_allocator agg_set_allocator(const agg_allocator *a);

#endif
