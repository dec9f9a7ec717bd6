/* Fuzz harness: an HTTP body read as one JSON object (jbody_object) and the Content-Type check (jbody_media_type). */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apierr.h"
#include "fuzzsupport.h"
#include "jbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_error e;
    memset(&e, 0, sizeof e);
    json_t *o = jbody_object((const char *)data, size, &e);
    if (o) {
        FUZZ_CHECK(json_is_object(o));
        err_t de;
        char *text = jbody_dumps(o, &de);
        if (text) {
            /* What we write we read back. */
            json_t *again = jbody_object(text, strlen(text), &e);
            FUZZ_CHECK(again && json_equal(again, o));
            json_decref(again);
            free(text);
        }
        json_decref(o);
    } else {
        FUZZ_CHECK(e.http_status == 400 || e.http_status == 500 || e.http_status == 413);
        FUZZ_CHECK(e.code && e.code[0] != '\0');
    }
    char *ct = fuzz_cstr(data, size);
    if (ct) {
        memset(&e, 0, sizeof e);
        if (jbody_media_type(ct, &e) != AGG_OK) FUZZ_CHECK(e.http_status == 415);
        free(ct);
    }
    return 0;
}
