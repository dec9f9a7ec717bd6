/* randpool: unguessable random bytes from the kernel's CSPRNG, drawn 4 KB at a time per thread. */
#include "randpool.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

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

int randpool_bytes(unsigned char *out, size_t n, err_t *e) {
    size_t done = 0;
    while (done < n) {
        if (pool_left == 0 && refill(e) != AGG_OK) {
            memset(out, 0, n);
            return AGG_ERR;
        }
        size_t take = n - done < pool_left ? n - done : pool_left;
        unsigned char *b = pool + POOL_BYTES - pool_left;
        memcpy(out + done, b, take);
        memset(b, 0, take); /* a used id leaves no copy in the pool */
        pool_left -= take;
        done += take;
    }
    return AGG_OK;
}
