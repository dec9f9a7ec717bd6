/* strmap: a string-keyed hash map of borrowed values (keys are copied). */
#ifndef AGG_STRMAP_H
#define AGG_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

/* NULL on out of memory. */
strmap *strmap_new(void);
/* Frees the map and its key copies; values are the caller's. */
void strmap_free(strmap *m);
/* The value stored under key, or NULL. */
void *strmap_get(const strmap *m, const char *key);
/* Stores value (non-NULL) under key, replacing any earlier value. AGG_ERR on out of memory. */
int strmap_put(strmap *m, const char *key, void *value);
/* Removes key; returns the value it had, or NULL. */
void *strmap_remove(strmap *m, const char *key);
size_t strmap_size(const strmap *m);
/* Calls fn for every entry; fn must not change the map. */
void strmap_each(const strmap *m, void (*fn)(const char *key, void *value, void *arg), void *arg);

#endif
