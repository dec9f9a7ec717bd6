/* uuid4: random (version 4) UUIDs from the kernel's CSPRNG (randpool), and the UUID check. */
#include "uuid4.h"

#include <string.h>

#include "err.h"
#include "randpool.h"

int uuid4_new(char out[UUID4_LEN + 1], err_t *e) {
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    unsigned char b[16];
    if (randpool_bytes(b, sizeof b, e) != AGG_OK) return AGG_ERR;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
    memset(b, 0, sizeof b);
    return AGG_OK;
}

int uuid4_valid(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < UUID4_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s[UUID4_LEN] == '\0';
}
