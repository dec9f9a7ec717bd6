/* fuzz_capability: libFuzzer harness of cap_verify (and its agreement with cap_sign) on hostile
 * input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capability.h"

#define KEY  "fuzz-current-key-0123456789abcdef"
#define PREV "fuzz-previous-key-0123456789abcdef"
#define NOW  1700000000LL

static cap_keys keys;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    err_t e;
    if (cap_keys_init(&keys, KEY, sizeof KEY - 1, PREV, sizeof PREV - 1, &e) != AGG_OK) abort();
    return 0;
}

/* The input is "<capability>\n<correlationId>\n<source>", as a callback's query parameter and
 * body give them (a missing part is ""). Beyond not crashing: a verdict is one of the five, a
 * capability we sign for the same fields is valid, and one the input names differently is not. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 3);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    char *cap = buf, *cid = strchr(cap, '\n') ? strchr(cap, '\n') + 1 : buf + size + 1;
    if (cid[-1] == '\n') cid[-1] = '\0';
    char *source = strchr(cid, '\n') ? strchr(cid, '\n') + 1 : cid + strlen(cid) + 1;
    if (source[-1] == '\n') source[-1] = '\0';
    char *nl = strchr(source, '\n');
    if (nl) *nl = '\0';

    cap_result r = cap_verify(&keys, cap, cid, source, NOW);
    if (r < CAP_VALID || r > CAP_EXPIRED) abort();
    if (cap_result_name(r) == NULL) abort();

    char mine[CAP_MAX_LEN + 1];
    if (cap_sign(&keys, cid, source, NOW, mine) > 0) {
        if (cap_verify(&keys, mine, cid, source, NOW) != CAP_VALID) abort();
        if (cap_verify(&keys, mine, cid, source, NOW + 1) != CAP_EXPIRED) abort();
        /* A capability is valid for one (correlationId, source): never for a longer source. */
        char other[CAP_FIELD_MAX + 2];
        size_t n = strlen(source);
        memcpy(other, source, n);
        other[n] = 'x';
        other[n + 1] = '\0';
        if (n + 1 <= CAP_FIELD_MAX && cap_verify(&keys, mine, cid, other, NOW) == CAP_VALID)
            abort();
    }
    free(buf);
    return 0;
}
