/* allowlist: checks a resource URL of a fan-out message against RESOURCE_URLS. */
#include "allowlist.h"

#include <string.h>

/* Length of s without trailing slashes. */
static size_t trimmed_len(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') n--;
    return n;
}

int allowlist_url_allowed(const resource_list *allow, int enforce, const char *url) {
    if (!enforce) return 1;
    if (allow == NULL || url == NULL) return 0;
    size_t n = trimmed_len(url);
    if (n == 0) return 0;
    for (int i = 0; i < allow->n; i++) {
        const char *a = allow->items[i].url;
        if (trimmed_len(a) == n && strncmp(a, url, n) == 0) return 1;
    }
    return 0;
}
