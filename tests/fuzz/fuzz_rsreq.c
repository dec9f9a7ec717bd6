/* Fuzz harness: resource-sim's request bodies (POST /journals and /journals/direct) through rsreq_parse. */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apierr.h"
#include "err.h"
#include "fuzzsupport.h"
#include "rsreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int with_url = 0; with_url <= 1; with_url++) {
        rsreq q;
        api_error e;
        memset(&e, 0, sizeof e);
        if (rsreq_parse((const char *)data, size, with_url, &q, &e) == AGG_OK) {
            FUZZ_CHECK(q.patient_id[0] != '\0');
            FUZZ_CHECK(q.delay >= (with_url ? RSREQ_DELAY_MIN : RSREQ_DIRECT_DELAY_MIN));
            FUZZ_CHECK(q.delay <= RSREQ_DELAY_MAX);
            if (with_url) {
                FUZZ_CHECK(rsreq_url_valid(q.callback_url));
                FUZZ_CHECK(uuid4_valid(q.correlation_id));
            }
        } else {
            FUZZ_CHECK(e.http_status == 400 || e.http_status == 500);
            FUZZ_CHECK(e.code && e.code[0] != '\0');
        }
    }
    return 0;
}
