/* reslist: the list of resources (journal sources) parsed from RESOURCE_URLS. */
#ifndef AGG_RESLIST_H
#define AGG_RESLIST_H

#include "err.h"

#define RESLIST_MAX      64
#define RESLIST_NAME_MAX 64
#define RESLIST_URL_MAX  512

typedef struct resource {
    char source[RESLIST_NAME_MAX + 1]; /* the name answers carry as "source" */
    char url[RESLIST_URL_MAX + 1];     /* base URL, no trailing slash */
} resource;

typedef struct resource_list {
    resource items[RESLIST_MAX];
    int n;
} resource_list;

/* Parses a comma-separated list. Each entry is "http(s)://host:port[/path]"
 * or "name=url"; an unnamed entry i (0-based) is named "resource-<i+1>".
 * Whitespace around entries is ignored; "" gives 0 resources. Trailing
 * slashes are removed. AGG_ERR on a bad URL, a duplicate name, more than
 * RESLIST_MAX entries or over-long parts. */
int reslist_parse(const char *spec, resource_list *out, err_t *e);

#endif
