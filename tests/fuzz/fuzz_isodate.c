/* Fuzz harness: the ISO-8601 date of a note (isodate_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "fuzzsupport.h"
#include "isodate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    isodate d = {-1, -1};
    if (isodate_parse(s, &d) == AGG_OK) {
        FUZZ_CHECK(d.nanos >= 0 && d.nanos <= 999999999);
        /* Years 0000..9999 with offsets of at most a day either side. */
        FUZZ_CHECK(d.secs >= -62167219200LL - 86400 && d.secs <= 253402300800LL + 86400);
    } else {
        FUZZ_CHECK(d.secs == -1 && d.nanos == -1);
    }
    free(s);
    return 0;
}
