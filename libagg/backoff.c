/* backoff: retry delays of 100 ms doubling to 2 s. */
#include "backoff.h"

long backoff_next(long current_ms) {
    if (current_ms <= 0) return BACKOFF_FIRST_MS;
    if (current_ms >= BACKOFF_MAX_MS / 2) return BACKOFF_MAX_MS;
    return current_ms * 2;
}
