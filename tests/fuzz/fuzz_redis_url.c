/* Fuzz harness: the REDIS_URL value (rdsconn_url_parse: redis://[user[:password]@ | :password@]host[:port][/db]). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzzsupport.h"
#include "rdsconn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    if (!s) return 0;
    rdsconn_url u;
    err_t e;
    if (rdsconn_url_parse(s, &u, &e) == AGG_OK) {
        FUZZ_CHECK(u.host && u.host[0] != '\0');
        FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
        FUZZ_CHECK(u.db >= 0);
        /* A user may come without a password here: REDIS_PASSWORD gives it (an ACL user). */
        FUZZ_CHECK(!u.user || u.user[0] != '\0');
    }
    rdsconn_url_free(&u);
    free(s);
    return 0;
}
