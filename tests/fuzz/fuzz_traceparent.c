/* Fuzz harness: the W3C traceparent header (traceparent_parse), formatted and parsed again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzzsupport.h"
#include "traceparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    traceparent t, again;
    err_t e;
    if (traceparent_parse(s, &t, &e) == AGG_OK) {
        FUZZ_CHECK(strlen(t.trace_id) == TRACEPARENT_TRACE_LEN);
        FUZZ_CHECK(strlen(t.span_id) == TRACEPARENT_SPAN_LEN);
        FUZZ_CHECK(t.flags <= 255);
        char out[TRACEPARENT_LEN + 1];
        traceparent_format(&t, out);
        FUZZ_CHECK(traceparent_parse(out, &again, &e) == AGG_OK);
        FUZZ_CHECK(strcmp(again.trace_id, t.trace_id) == 0);
        FUZZ_CHECK(strcmp(again.span_id, t.span_id) == 0);
        FUZZ_CHECK(again.flags == t.flags);
    }
    free(s);
    return 0;
}
