/* Fuzz harness: the producer selector (ratesel) driven by clock readings taken from the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzzsupport.h"
#include "ratesel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    /* Byte 0: the threshold; then each pair of bytes a step of the monotonic clock (ms). */
    ratesel s;
    long long above = (long long)data[0] * 16;
    ratesel_init(&s, above);
    long long now = 1000000;
    for (size_t i = 1; i + 1 < size; i += 2) {
        now += (long long)data[i] << 8 | data[i + 1];
        int pick = ratesel_pick(&s, now);
        FUZZ_CHECK(pick == 0 || pick == 1);
        if (above == 0) FUZZ_CHECK(pick == 1);
        FUZZ_CHECK(s.last_rate >= 0 && s.bucket_count >= 0);
    }
    return 0;
}
