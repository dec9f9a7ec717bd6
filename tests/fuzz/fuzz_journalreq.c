/* Fuzz harness: the journal request body (POST /aggregate/journals) through journalreq_parse. */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apierr.h"
#include "err.h"
#include "fuzzsupport.h"
#include "journalreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Every resource slot in use, so that a delay list one longer than allowed is tried. */
    static const journalreq_limits lim = {30000, 60000, RESLIST_MAX};
    journal_request r;
    api_error e;
    memset(&e, 0, sizeof e);
    if (journalreq_parse((const char *)data, size, &lim, &r, &e) == AGG_OK) {
        size_t n = strlen(r.patient_id);
        FUZZ_CHECK(n >= 1 && n <= JOURNALREQ_PATIENT_ID_MAX);
        FUZZ_CHECK(r.n_delays >= 0 && r.n_delays <= lim.n_resources);
        for (int i = 0; i < r.n_delays; i++)
            FUZZ_CHECK(r.delays[i] >= JOURNALREQ_DELAY_MIN && r.delays[i] <= JOURNALREQ_DELAY_MAX_MS);
        FUZZ_CHECK(r.timeout_ms > 0 && r.timeout_ms <= lim.timeout_max_ms);
        FUZZ_CHECK(r.strategy == STRATEGY_SSE || r.strategy == STRATEGY_WAIT_FOR_EVERYONE);
    } else {
        /* A bad body is a client error with a code (500 only when memory ran out). */
        FUZZ_CHECK(e.http_status == 400 || e.http_status == 500);
        FUZZ_CHECK(e.code && e.code[0] != '\0');
    }
    return 0;
}
