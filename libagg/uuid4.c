/* uuid4: random (version 4) UUIDs from the kernel's CSPRNG, drawn in blocks, and the UUID check. */
#include "uuid4.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"

#define POOL_BYTES 4096

static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local size_t pool_left;

/* Fills the pool; AGG_ERR with e filled when the kernel will not give random bytes. */
static int refill(err_t *e) {
    size_t got = 0;
    while (got < POOL_BYTES) {
        ssize_t n = getrandom(pool + got, POOL_BYTES - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return err_set(e, "getrandom: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    pool_left = POOL_BYTES;
    return AGG_OK;
}

int uuid4_new(char out[UUID4_LEN + 1], err_t *e) {
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    if (pool_left < 16 && refill(e) != AGG_OK) return AGG_ERR;
    unsigned char *b = pool + POOL_BYTES - pool_left;
    pool_left -= 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
    memset(b, 0, 16); /* a used id leaves no copy in the pool */
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
