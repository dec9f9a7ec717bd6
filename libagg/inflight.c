/* inflight: a ring of deadline counters; slots are emptied as the clock passes them. */
#include "inflight.h"

#include "alloc.h"

struct inflight {
    long long width;    /* ms of deadlines per slot */
    long long base;     /* slot number (time / width) of the oldest slot still counted */
    size_t total;       /* sum of the slots */
    unsigned counts[INFLIGHT_SLOTS];
};

inflight *inflight_new(long long max_span_ms, err_t *e) {
    if (max_span_ms < 1) {
        err_set(e, "inflight: the span must be at least 1 ms");
        return NULL;
    }
    inflight *f = agg_calloc(1, sizeof *f);
    if (!f) {
        err_nomem(e);
        return NULL;
    }
    /* Two slots spare: the one now falls in and the one the rounded-up deadline falls in. */
    f->width = (max_span_ms + INFLIGHT_SLOTS - 3) / (INFLIGHT_SLOTS - 2);
    if (f->width < 1) f->width = 1;
    f->base = -1; /* no slot yet: the first call sets it */
    return f;
}

void inflight_free(inflight *f) { agg_free(f); }

/* Empties every slot that ends at or before now_ms: a slot s holds deadlines in
 * ((s - 1) * width, s * width], so it is over once now_ms >= s * width. */
static void advance(inflight *f, long long now_ms) {
    long long now_slot = now_ms / f->width + 1; /* the first slot not yet over */
    if (f->base < 0) {
        f->base = now_slot;
        return;
    }
    if (now_slot <= f->base) return;
    if (now_slot - f->base >= INFLIGHT_SLOTS) {
        for (size_t i = 0; i < INFLIGHT_SLOTS; i++) f->counts[i] = 0;
        f->total = 0;
    } else {
        for (long long s = f->base; s < now_slot; s++) {
            unsigned *c = &f->counts[s % INFLIGHT_SLOTS];
            f->total -= *c;
            *c = 0;
        }
    }
    f->base = now_slot;
}

void inflight_add(inflight *f, long long deadline_ms, long long now_ms) {
    advance(f, now_ms);
    if (deadline_ms <= now_ms) return;
    long long slot = (deadline_ms + f->width - 1) / f->width; /* the slot ending at or after it */
    if (slot >= f->base + INFLIGHT_SLOTS) slot = f->base + INFLIGHT_SLOTS - 1;
    if (slot < f->base) slot = f->base;
    f->counts[slot % INFLIGHT_SLOTS]++;
    f->total++;
}

size_t inflight_count(inflight *f, long long now_ms) {
    advance(f, now_ms);
    return f->total;
}
