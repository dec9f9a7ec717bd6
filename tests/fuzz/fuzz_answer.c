/* Fuzz harness: a resource's answer (POST /aggregate/callback body) through answer_parse, and its normalised JSON parsed again. */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "answer.h"
#include "apierr.h"
#include "err.h"
#include "fuzzsupport.h"
#include "uuid4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    answer_msg m;
    api_error e;
    memset(&e, 0, sizeof e);
    if (answer_parse((const char *)data, size, &m, &e) != AGG_OK) {
        FUZZ_CHECK(m.json == NULL);
        FUZZ_CHECK(e.http_status == 400 || e.http_status == 500);
        FUZZ_CHECK(e.code && e.code[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(uuid4_valid(m.correlation_id));
    FUZZ_CHECK(m.source[0] != '\0' && m.patient_id[0] != '\0');
    FUZZ_CHECK(m.json && strlen(m.json) == m.json_len);
    /* The normalised answer is what the gateway puts on Kafka and the worker parses again: it
     * must be accepted and normalise to itself. */
    answer_msg again;
    if (answer_parse(m.json, m.json_len, &again, &e) == AGG_OK) {
        FUZZ_CHECK(again.json_len == m.json_len && memcmp(again.json, m.json, m.json_len) == 0);
        FUZZ_CHECK(again.status == m.status);
        FUZZ_CHECK(strcmp(again.correlation_id, m.correlation_id) == 0);
        FUZZ_CHECK(strcmp(again.source, m.source) == 0);
        FUZZ_CHECK(strcmp(again.patient_id, m.patient_id) == 0);
        answer_clear(&again);
    } else {
        FUZZ_CHECK(e.http_status == 500); /* out of memory only */
    }
    answer_clear(&m);
    return 0;
}
