/* Fuzz harness: the fan-out message a worker reads from the requests topic (fanoutmsg_parse), and its JSON parsed again. */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fanoutmsg.h"
#include "fuzzsupport.h"
#include "uuid4.h"

/* Field by field: the bytes after a string's NUL are not part of the message. */
static int same(const fanout_msg *a, const fanout_msg *b) {
    if (strcmp(a->correlation_id, b->correlation_id) || strcmp(a->patient_id, b->patient_id) ||
        a->strategy != b->strategy || a->timeout_ms != b->timeout_ms ||
        a->created_ms != b->created_ms || a->deadline_ms != b->deadline_ms ||
        strcmp(a->callback_url, b->callback_url) || a->n_resources != b->n_resources)
        return 0;
    for (int i = 0; i < a->n_resources; i++)
        if (strcmp(a->resources[i].source, b->resources[i].source) ||
            strcmp(a->resources[i].url, b->resources[i].url) ||
            a->resources[i].delay_ms != b->resources[i].delay_ms)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    err_t e;
    memset(&e, 0, sizeof e);
    fanout_msg *m = fanoutmsg_parse((const char *)data, size, &e);
    if (!m) {
        FUZZ_CHECK(e.text[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(uuid4_valid(m->correlation_id));
    FUZZ_CHECK(m->n_resources >= 0 && m->n_resources <= RESLIST_MAX);
    /* What the gateway writes from a parsed message must read back the same. */
    char *json = fanoutmsg_to_json(m, &e);
    if (json) {
        fanout_msg *again = fanoutmsg_parse(json, strlen(json), &e);
        FUZZ_CHECK(again != NULL || err_is_nomem(&e));
        if (again) {
            FUZZ_CHECK(same(m, again));
            char *json2 = fanoutmsg_to_json(again, &e);
            FUZZ_CHECK(json2 == NULL || strcmp(json, json2) == 0);
            free(json2);
            fanoutmsg_free(again);
        }
        free(json);
    }
    char *sources = fanoutmsg_sources_json(m, &e);
    free(sources);
    fanoutmsg_free(m);
    return 0;
}
