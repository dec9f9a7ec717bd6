/* capability: the callback capability, an HMAC-SHA256 for one (session, source, expiry) (pure). */
#ifndef AGG_CAPABILITY_H
#define AGG_CAPABILITY_H

#include <stddef.h>

#include "err.h"

/* Keys shorter than this are refused at start-up (HMAC-SHA256's own block is 64 bytes; 32
 * random bytes are the strength of the MAC). */
#define CAP_KEY_MIN 32
/* Seconds a capability stays valid after its session's deadline: a resource's answer sent at
 * the deadline still arrives, across clock differences between worker and gateway hosts. A
 * later answer would be refused by the session anyway; rotation waits this much past the longest
 * session (docs/operations.md). */
#define CAP_GRACE_S 60
/* Base64url (no padding) of the 32-byte MAC. */
#define CAP_SIG_LEN 43
/* Decimal digits of the expiry at most (it fits a long long). */
#define CAP_EXP_DIGITS_MAX 18
/* "v1." exp "." sig */
#define CAP_MAX_LEN (3 + CAP_EXP_DIGITS_MAX + 1 + CAP_SIG_LEN)
/* correlationId and source longer than this have no capability (ours are 36 and 64 bytes). */
#define CAP_FIELD_MAX 128

struct evp_mac_ctx_st;

/* The signing key and the one still accepted during a rotation (prev NULL: none), each as a
 * libcrypto HMAC-SHA256 context keyed once (cap_keys_init): a capability then costs one MAC
 * (about 1.5 us) and no allocation, where a one-shot HMAC() takes about 10 us. A cap_keys is
 * used by one thread at a time (each program's loop). */
typedef struct cap_keys {
    struct evp_mac_ctx_st *cur;
    struct evp_mac_ctx_st *prev;
} cap_keys;

/* Why a capability was refused; CAP_VALID 0. The refusals are CAP_MISSING..CAP_EXPIRED. */
typedef enum cap_result {
    CAP_VALID = 0,
    CAP_MISSING,
    CAP_MALFORMED,
    CAP_BAD_SIGNATURE,
    CAP_EXPIRED,
} cap_result;
#define CAP_REFUSALS 4

/* Keys k with cur (cur_len bytes, required) and prev (NULL: none); both are copied by libcrypto.
 * AGG_ERR with e filled when cur is NULL, and (k then holds nothing to free) when libcrypto
 * cannot make a context ("out of memory"). Free with cap_keys_free. Start-up only. */
int cap_keys_init(cap_keys *k, const void *cur, size_t cur_len, const void *prev, size_t prev_len,
                  err_t *e);

/* Reads CALLBACK_SIGNING_KEY (or _FILE; required) and CALLBACK_SIGNING_KEY_PREVIOUS (or _FILE;
 * optional) through cfg_secret and keys k with them (cap_keys_init). AGG_ERR with one line
 * naming the variable when a key is missing, shorter than CAP_KEY_MIN bytes or unreadable; the
 * key never appears in e. Start-up only. */
int cap_keys_load(cap_keys *k, err_t *e);

/* Frees k's contexts (k is zeroed; harmless on a zeroed k). */
void cap_keys_free(cap_keys *k);

/* Writes the capability "v1.<exp>.<sig>" for (cid, source, exp: epoch seconds) signed with
 * k->cur into out, NUL-terminated, and returns its length; 0 (out "") when exp is negative or
 * too large, cid or source is longer than CAP_FIELD_MAX, or libcrypto fails. No allocation. */
size_t cap_sign(const cap_keys *k, const char *cid, const char *source, long long exp,
                char out[CAP_MAX_LEN + 1]);

/* Checks cap (NUL-terminated; NULL or "" is CAP_MISSING) for (cid, source) at now_s (epoch
 * seconds) against k->cur and then k->prev, comparing in constant time. The signature is checked
 * before the expiry: an expired capability that was never ours is CAP_BAD_SIGNATURE, and so is
 * any when libcrypto fails (never a false CAP_VALID). No allocation. */
cap_result cap_verify(const cap_keys *k, const char *cap, const char *cid, const char *source,
                      long long now_s);

/* Writes url with the query parameter cap=<cap> appended ('?' or '&' as url already has a query)
 * into out (size bytes, NUL-terminated) and returns its length; 0 (out "") when it does not fit.
 * A url with a fragment ('#') gets the parameter before it. */
size_t cap_url(char *out, size_t size, const char *url, const char *cap);

/* The capability's expiry for a session whose deadline is deadline_ms (epoch milliseconds): the
 * deadline rounded up to a second, plus CAP_GRACE_S. */
long long cap_expiry(long long deadline_ms);

/* "valid", "missing", "malformed", "bad_signature", "expired" (the metric labels). Static. */
const char *cap_result_name(cap_result r);

#endif
