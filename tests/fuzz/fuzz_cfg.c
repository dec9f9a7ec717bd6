/* Fuzz harness: a configuration value as the programs read it from the environment (cfg_long, cfg_url). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "err.h"
#include "fuzzsupport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    if (setenv("AGG_FUZZ_VALUE", s, 1) != 0) {
        free(s);
        return 0;
    }
    err_t e;
    long v = 0;
    if (cfg_long("AGG_FUZZ_VALUE", 7, -1000, 1000000, &v, &e) == AGG_OK) {
        FUZZ_CHECK(v >= -1000 && v <= 1000000);
        if (*s) FUZZ_CHECK(strtol(s, NULL, 10) == v);
    }
    const char *u = NULL;
    if (cfg_url("AGG_FUZZ_VALUE", "http://default", &u, &e) == AGG_OK) {
        FUZZ_CHECK(u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0));
        for (const char *q = u; *q; q++) FUZZ_CHECK((unsigned char)*q > 0x20 && *q != 0x7f);
    }
    cfg_vars_clear();
    free(s);
    return 0;
}
