/* inflight: how many sessions started here have a deadline still ahead, in a fixed ring of time slots (pure). */
#ifndef AGG_INFLIGHT_H
#define AGG_INFLIGHT_H

#include <stddef.h>

#include "err.h"

/* Counts things that live until a deadline (sessions this replica started) without a list of
 * them: a ring of INFLIGHT_SLOTS counters, each covering `width` ms of deadlines, allocated
 * once. Adding is O(1), counting is O(1) amortised (each slot is emptied once as time passes
 * it). A deadline is kept in the slot that ends at or after it, so a session counts until at
 * most `width` ms past its deadline: the count errs high by the sessions ending in one slot,
 * never low. width is chosen so that the ring spans max_span_ms. */
typedef struct inflight inflight;

#define INFLIGHT_SLOTS 1024

/* A ring for deadlines up to max_span_ms (>= 1) ahead of the time they are added. NULL with e
 * filled on out of memory or a bad argument. Caller frees with inflight_free. */
inflight *inflight_new(long long max_span_ms, err_t *e);
void inflight_free(inflight *f);

/* Counts one more until deadline_ms; now_ms is the same monotonic clock, never going back. A
 * deadline already passed is not counted; one past now_ms + max_span_ms counts as
 * now_ms + max_span_ms (the caller caps its timeouts there). Never fails. */
void inflight_add(inflight *f, long long deadline_ms, long long now_ms);

/* How many added deadlines are still ahead of now_ms (at most `width` ms late). */
size_t inflight_count(inflight *f, long long now_ms);

#endif
