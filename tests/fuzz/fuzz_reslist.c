/* Fuzz harness: the RESOURCE_URLS list (reslist_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzzsupport.h"
#include "reslist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    static resource_list l; /* 37 KB: not on the stack */
    err_t e;
    if (reslist_parse(s, &l, &e) == AGG_OK) {
        FUZZ_CHECK(l.n >= 0 && l.n <= RESLIST_MAX);
        for (int i = 0; i < l.n; i++) {
            size_t n = strlen(l.items[i].url);
            FUZZ_CHECK(l.items[i].source[0] != '\0');
            FUZZ_CHECK(n > 0 && l.items[i].url[n - 1] != '/');
            for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(l.items[i].source, l.items[j].source));
        }
    }
    free(s);
    return 0;
}
