/* strmap: a string-keyed hash map of borrowed values (keys are copied). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    char key[];
} entry;

struct strmap {
    entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t size;
};

static uint64_t hash_key(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

strmap *strmap_new(void) {
    strmap *m = agg_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->n_buckets = 64;
    m->buckets = agg_calloc(m->n_buckets, sizeof *m->buckets);
    if (!m->buckets) {
        agg_free(m);
        return NULL;
    }
    return m;
}

void strmap_free(strmap *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_buckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            agg_free(e);
            e = next;
        }
    }
    agg_free(m->buckets);
    agg_free(m);
}

static entry **find_slot(const strmap *m, const char *key, uint64_t h) {
    entry **slot = &m->buckets[h & (m->n_buckets - 1)];
    while (*slot && ((*slot)->hash != h || strcmp((*slot)->key, key) != 0)) slot = &(*slot)->next;
    return slot;
}

void *strmap_get(const strmap *m, const char *key) {
    entry *e = *find_slot(m, key, hash_key(key));
    return e ? e->value : NULL;
}

static void grow(strmap *m) {
    size_t n = m->n_buckets * 2;
    entry **b = agg_calloc(n, sizeof *b);
    if (!b) return; /* keep working with longer chains */
    for (size_t i = 0; i < m->n_buckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            entry **slot = &b[e->hash & (n - 1)];
            e->next = *slot;
            *slot = e;
            e = next;
        }
    }
    agg_free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

int strmap_put(strmap *m, const char *key, void *value) {
    uint64_t h = hash_key(key);
    entry **slot = find_slot(m, key, h);
    if (*slot) {
        (*slot)->value = value;
        return AGG_OK;
    }
    size_t len = strlen(key);
    entry *e = agg_malloc(sizeof *e + len + 1);
    if (!e) return AGG_ERR;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *slot = e;
    if (++m->size > m->n_buckets) grow(m);
    return AGG_OK;
}

void *strmap_remove(strmap *m, const char *key) {
    entry **slot = find_slot(m, key, hash_key(key));
    entry *e = *slot;
    if (!e) return NULL;
    *slot = e->next;
    void *v = e->value;
    agg_free(e);
    m->size--;
    return v;
}

size_t strmap_size(const strmap *m) { return m->size; }

void strmap_each(const strmap *m, void (*fn)(const char *key, void *value, void *arg), void *arg) {
    for (size_t i = 0; i < m->n_buckets; i++)
        for (entry *e = m->buckets[i]; e; e = e->next) fn(e->key, e->value, arg);
}
