/* offtrack: tracks in-flight Kafka offsets per partition to find the highest safe commit. */
#include "offtrack.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

#define OT_TOPICS        16
#define OT_MAX_PARTITION (1 << 20)

typedef struct ot_entry {
    int64_t offset;
    int done;
} ot_entry;

/* One partition: a ring of begun offsets, increasing, oldest at head. Entries
 * leave the ring from the head once they and all before them are done. */
typedef struct ot_part {
    ot_entry *ring;
    size_t cap; /* a power of two, or 0 */
    size_t head, count;
    int started; /* an offset was begun since creation/forget */
    int64_t last_begun;
    int64_t last_done; /* highest offset that left the ring (valid when have_done) */
    int have_done;
    int64_t reported; /* last committable offset returned (or the first begun) */
} ot_part;

typedef struct ot_topic {
    ot_part **parts; /* indexed by partition; NULL when never seen */
    size_t n_parts;
} ot_topic;

struct offtrack {
    ot_topic topics[OT_TOPICS];
    long in_flight;
};

offtrack *offtrack_new(err_t *e) {
    offtrack *t = agg_calloc(1, sizeof(offtrack));
    if (!t) err_nomem(e);
    return t;
}

void offtrack_free(offtrack *t) {
    if (!t) return;
    for (int i = 0; i < OT_TOPICS; i++) {
        for (size_t p = 0; p < t->topics[i].n_parts; p++) {
            if (t->topics[i].parts[p]) agg_free(t->topics[i].parts[p]->ring);
            agg_free(t->topics[i].parts[p]);
        }
        agg_free(t->topics[i].parts);
    }
    agg_free(t);
}

/* The partition's state; created when create is set. NULL with e filled
 * when absent, out of range or out of memory. */
static ot_part *get_part(offtrack *t, int topic_id, int32_t partition, int create, err_t *e) {
    if (!t || topic_id < 0 || topic_id >= OT_TOPICS || partition < 0 ||
        partition >= OT_MAX_PARTITION) {
        err_set(e, "topic %d, partition %d: out of range", topic_id, (int)partition);
        return NULL;
    }
    ot_topic *tp = &t->topics[topic_id];
    size_t idx = (size_t)partition;
    if (idx < tp->n_parts && tp->parts[idx]) return tp->parts[idx];
    if (!create) {
        err_set(e, "topic %d, partition %d: nothing begun", topic_id, (int)partition);
        return NULL;
    }
    if (idx >= tp->n_parts) {
        size_t n = tp->n_parts ? tp->n_parts : 8;
        while (n <= idx) n *= 2;
        ot_part **np = agg_realloc(tp->parts, n * sizeof *np);
        if (!np) {
            err_nomem(e);
            return NULL;
        }
        memset(np + tp->n_parts, 0, (n - tp->n_parts) * sizeof *np);
        tp->parts = np;
        tp->n_parts = n;
    }
    tp->parts[idx] = agg_calloc(1, sizeof(ot_part));
    if (!tp->parts[idx]) err_nomem(e);
    return tp->parts[idx];
}

static ot_entry *at(ot_part *p, size_t i) { return &p->ring[(p->head + i) & (p->cap - 1)]; }

static int grow(ot_part *p, err_t *e) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    ot_entry *r = agg_malloc(cap * sizeof *r);
    if (!r) return err_nomem(e);
    for (size_t i = 0; i < p->count; i++) r[i] = *at(p, i);
    agg_free(p->ring);
    p->ring = r;
    p->cap = cap;
    p->head = 0;
    return AGG_OK;
}

int offtrack_begin(offtrack *t, int topic_id, int32_t partition, int64_t offset, err_t *e) {
    if (offset < 0) return err_set(e, "offset %lld is negative", (long long)offset);
    ot_part *p = get_part(t, topic_id, partition, 1, e);
    if (!p) return AGG_ERR;
    if (p->started && offset <= p->last_begun)
        return err_set(e, "offset %lld is not above the last one begun (%lld)", (long long)offset,
                       (long long)p->last_begun);
    if (p->count == p->cap && grow(p, e) != AGG_OK) return AGG_ERR;
    if (!p->started) {
        p->started = 1;
        p->reported = offset;
    }
    ot_entry *en = at(p, p->count++);
    en->offset = offset;
    en->done = 0;
    p->last_begun = offset;
    t->in_flight++;
    return AGG_OK;
}

int offtrack_done(offtrack *t, int topic_id, int32_t partition, int64_t offset, err_t *e) {
    ot_part *p = get_part(t, topic_id, partition, 0, e);
    if (!p) return AGG_ERR;
    if (p->count == 0) return err_set(e, "offset %lld is not in flight", (long long)offset);
    size_t lo = 0, hi = p->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->count || at(p, lo)->offset != offset || at(p, lo)->done)
        return err_set(e, "offset %lld is not in flight", (long long)offset);
    at(p, lo)->done = 1;
    t->in_flight--;
    while (p->count > 0 && at(p, 0)->done) {
        p->last_done = at(p, 0)->offset;
        p->have_done = 1;
        p->head = (p->head + 1) & (p->cap - 1);
        p->count--;
    }
    return AGG_OK;
}

int offtrack_committable(offtrack *t, int topic_id, int32_t partition, int64_t *next) {
    ot_part *p = get_part(t, topic_id, partition, 0, NULL);
    if (!p || !p->started) return 0;
    int64_t v;
    if (p->count > 0)
        v = at(p, 0)->offset;
    else if (p->have_done)
        v = p->last_done + 1;
    else
        return 0;
    if (v <= p->reported) return 0;
    p->reported = v;
    if (next) *next = v;
    return 1;
}

void offtrack_forget(offtrack *t, int topic_id, int32_t partition) {
    ot_part *p = get_part(t, topic_id, partition, 0, NULL);
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) {
        if (!at(p, i)->done) t->in_flight--;
    }
    t->topics[topic_id].parts[partition] = NULL;
    agg_free(p->ring);
    agg_free(p);
}

long offtrack_in_flight(const offtrack *t) { return t ? t->in_flight : 0; }
