/* backoff: the delay before the next retry of a failed call (pure). */
#ifndef AGG_BACKOFF_H
#define AGG_BACKOFF_H

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   2000

/* The next retry delay after current_ms: BACKOFF_FIRST_MS first (current_ms
 * <= 0), then doubling, at most BACKOFF_MAX_MS. No state; nothing to free. */
long backoff_next(long current_ms);

#endif
