/* fakereply: hand-built hiredis replies for tests of reply parsers (no Redis). */
#ifndef FAKEREPLY_H
#define FAKEREPLY_H

#include <hiredis/hiredis.h>

/* Each returns a reply from a static pool of 64 (fails the test when it runs out); strings are
 * borrowed. fakereply_reset empties the pool: use it as a cmocka setup. */
redisReply *fakereply_str(const char *s);
redisReply *fakereply_status(const char *s);
redisReply *fakereply_error(const char *s);
redisReply *fakereply_int(long long v);
redisReply *fakereply_nil(void);
/* An array of n (at most 8) replies. */
redisReply *fakereply_arr(int n, ...);
int fakereply_reset(void **state);

#endif
