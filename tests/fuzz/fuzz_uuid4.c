/* Fuzz harness: the correlationId check of query values and bodies (uuid4_valid). */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "uuid4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    if (uuid4_valid(s)) {
        FUZZ_CHECK(strlen(s) == UUID4_LEN);
        for (int i = 0; i < UUID4_LEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                FUZZ_CHECK(s[i] == '-');
            else
                FUZZ_CHECK(isxdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]));
        }
    }
    free(s);
    return 0;
}
