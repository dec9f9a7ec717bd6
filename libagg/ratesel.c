/* ratesel: chooses between an immediate and a batching producer from the recent message rate. */
#include "ratesel.h"

#include <string.h>

void ratesel_init(ratesel *s, long long above_per_s) {
    memset(s, 0, sizeof *s);
    s->above_per_s = above_per_s;
    s->batching = above_per_s <= 0;
    s->bucket_start_ms = -1;
}

int ratesel_pick(ratesel *s, long long now_ms) {
    if (s->above_per_s <= 0) return 1;
    if (s->bucket_start_ms < 0) s->bucket_start_ms = now_ms;
    long long elapsed = now_ms - s->bucket_start_ms;
    if (elapsed >= RATESEL_BUCKET_MS) {
        /* A gap of several buckets means the rate fell to what this one saw. */
        long long buckets = elapsed / RATESEL_BUCKET_MS;
        s->last_rate = buckets == 1 ? s->bucket_count * (1000 / RATESEL_BUCKET_MS) : 0;
        s->bucket_count = 0;
        s->bucket_start_ms += buckets * RATESEL_BUCKET_MS;
        if (!s->batching && s->last_rate >= s->above_per_s)
            s->batching = 1;
        else if (s->batching && s->last_rate < s->above_per_s / 2)
            s->batching = 0;
    }
    s->bucket_count++;
    return s->batching;
}
