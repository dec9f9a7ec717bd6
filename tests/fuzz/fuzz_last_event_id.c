/* Fuzz harness: the Last-Event-ID header and lastEventId query value (sse_parse_last_event_id). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzzsupport.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    long long v = -1;
    err_t e;
    if (sse_parse_last_event_id(s, &v, &e) == AGG_OK) {
        FUZZ_CHECK(v >= 0 && v <= 1000000000000000LL);
        /* Digits only: the value is the text. */
        for (const char *p = s; *p; p++) FUZZ_CHECK(*p >= '0' && *p <= '9');
        if (*s) FUZZ_CHECK(strtoll(s, NULL, 10) == v);
    }
    free(s);
    return 0;
}
