/* The fuzz runner's own test (scripts/fuzz.sh --selftest): a harness that crashes or leaks on demand, so that the runner is seen to fail. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"

static void *volatile kept;

/* FNV-1a: the marker inputs are found by their hash, which libFuzzer's comparison tracing cannot
 * lead it to, so that fuzzing from the "ok" seed never hits them by chance. */
static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t h = fnv1a(data, size);
    /* FUZZ_SELFTEST=find: any input starting with 'Z', which mutation reaches within seconds. */
    const char *mode = getenv("FUZZ_SELFTEST");
    if (mode && strcmp(mode, "find") == 0 && size > 0 && data[0] == 'Z') FUZZ_CHECK(!"found");
    if (h == fnv1a((const uint8_t *)"selftest-crash", 14)) FUZZ_CHECK(!"crash marker");
    if (h == fnv1a((const uint8_t *)"selftest-leak", 13)) {
        kept = malloc(64); /* lost on the next input: LeakSanitizer reports it */
        kept = NULL;
    }
    return 0;
}
