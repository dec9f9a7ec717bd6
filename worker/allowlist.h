/* allowlist: which resource URLs the worker may call (RESOURCE_URLS, when set). */
#ifndef WORKER_ALLOWLIST_H
#define WORKER_ALLOWLIST_H

#include "reslist.h"

/* 1 when url may be called: always when enforce is 0, else when url equals
 * (ignoring trailing slashes on either side) the url of an entry of allow.
 * allow and url are borrowed for the call; either may be NULL (then 0 when
 * enforcing). */
int allowlist_url_allowed(const resource_list *allow, int enforce, const char *url);

#endif
