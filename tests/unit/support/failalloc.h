/* failalloc: a test allocator that fails the Nth allocation after it is armed (hiredis-style). */
#ifndef TEST_FAILALLOC_H
#define TEST_FAILALLOC_H

#include <stddef.h>

/* Installs the counting allocator (agg_set_allocator) and arms it: the nth
 * allocation from now (1-based) returns NULL, every other one succeeds.
 * n = 0 counts without failing. */
void failalloc_arm(size_t n);
/* Restores libc's allocator. */
void failalloc_disarm(void);
/* While paused (1), allocations neither count nor fail: the test's own, so
 * that N counts only the system's. */
void failalloc_pause(int paused);
/* Allocations made since the last failalloc_arm. */
size_t failalloc_count(void);
/* 1 when the armed allocation has been failed. */
int failalloc_fired(void);

#endif
