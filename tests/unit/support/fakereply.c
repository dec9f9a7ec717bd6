/* fakereply: hand-built hiredis replies for tests of reply parsers (no Redis). */
#include "fakereply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static redisReply pool[64];
static redisReply *elems[64][8];
static int used;

static redisReply *mk(int type) {
    assert_true(used < 64);
    redisReply *r = &pool[used++];
    memset(r, 0, sizeof *r);
    r->type = type;
    return r;
}
redisReply *fakereply_str(const char *s) {
    redisReply *r = mk(REDIS_REPLY_STRING);
    r->str = (char *)s;
    r->len = strlen(s);
    return r;
}
redisReply *fakereply_status(const char *s) {
    redisReply *r = fakereply_str(s);
    r->type = REDIS_REPLY_STATUS;
    return r;
}
redisReply *fakereply_error(const char *s) {
    redisReply *r = fakereply_str(s);
    r->type = REDIS_REPLY_ERROR;
    return r;
}
redisReply *fakereply_int(long long v) {
    redisReply *r = mk(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}
redisReply *fakereply_nil(void) { return mk(REDIS_REPLY_NIL); }
redisReply *fakereply_arr(int n, ...) {
    assert_true(n <= 8);
    redisReply *r = mk(REDIS_REPLY_ARRAY);
    int slot = used - 1;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) elems[slot][i] = va_arg(ap, redisReply *);
    va_end(ap);
    r->elements = (size_t)n;
    r->element = elems[slot];
    return r;
}
int fakereply_reset(void **state) {
    (void)state;
    used = 0;
    return 0;
}
