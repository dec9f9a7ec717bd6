/* Fuzz harness: the REDIS_SENTINELS list and REDIS_MASTER_NAME (conncfg_redis_check). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conncfg.h"
#include "err.h"
#include "fuzzsupport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The input up to its first newline is the master's name when it has one, the rest the list. */
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    char *nl = strchr(s, '\n');
    conncfg_redis r;
    memset(&r, 0, sizeof r);
    r.master_name = "mymaster";
    r.sentinel_list = s;
    if (nl) {
        *nl = '\0';
        r.master_name = s;
        r.sentinel_list = nl + 1;
    }
    err_t e;
    if (conncfg_redis_check(&r, &e) == AGG_OK) {
        FUZZ_CHECK(r.n_sentinels >= 1 && r.n_sentinels <= CONNCFG_SENTINELS_MAX);
        for (size_t i = 0; i < r.n_sentinels; i++) {
            FUZZ_CHECK(r.sentinels[i].host[0] != '\0');
            FUZZ_CHECK(r.sentinels[i].port >= 1 && r.sentinels[i].port <= 65535);
        }
    }
    free(s);
    return 0;
}
