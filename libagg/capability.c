/* capability: signs and checks callback capabilities (HMAC-SHA256 through libcrypto EVP_MAC,
 * base64url). */
#include "capability.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cfg.h"

#define CAP_MAC_LEN 32 /* SHA-256 */

#define CAP_PREFIX     "v1."
#define CAP_PREFIX_LEN 3

int cap_keys_init(cap_keys *k, const void *cur, size_t cur_len, const void *prev, size_t prev_len,
                  err_t *e) {
    memset(k, 0, sizeof *k);
    if (cur == NULL) return err_set(e, "no callback signing key");
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) return err_nomem(e);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    const void *key[2] = {cur, prev};
    size_t len[2] = {cur_len, prev_len};
    EVP_MAC_CTX **ctx[2] = {&k->cur, &k->prev};
    for (int i = 0; i < 2 && key[i]; i++) {
        /* A key may be empty: pass a non-NULL pointer, NULL would mean "keep the last key". */
        static const unsigned char none[1];
        if (!(*ctx[i] = EVP_MAC_CTX_new(mac)) ||
            !EVP_MAC_init(*ctx[i], len[i] ? key[i] : none, len[i], params)) {
            EVP_MAC_free(mac);
            cap_keys_free(k);
            return err_nomem(e);
        }
    }
    EVP_MAC_free(mac); /* each context holds its own reference */
    return AGG_OK;
}

void cap_keys_free(cap_keys *k) {
    EVP_MAC_CTX_free(k->cur);
    EVP_MAC_CTX_free(k->prev);
    memset(k, 0, sizeof *k);
}

static int load_one(const char *name, const char *file_name, int required, const char **key,
                    size_t *len, err_t *e) {
    if (cfg_secret(name, file_name, key, len, e) != AGG_OK) return AGG_ERR;
    if (*key == NULL)
        return required ? err_set(e, "%s (or %s) is required", name, file_name) : AGG_OK;
    if (*len < CAP_KEY_MIN)
        return err_set(e, "%s must be at least %d bytes (it is %zu)", name, CAP_KEY_MIN, *len);
    return AGG_OK;
}

int cap_keys_load(cap_keys *k, err_t *e) {
    const char *cur, *prev;
    size_t cur_len, prev_len;
    memset(k, 0, sizeof *k);
    if (load_one("CALLBACK_SIGNING_KEY", "CALLBACK_SIGNING_KEY_FILE", 1, &cur, &cur_len, e) !=
            AGG_OK ||
        load_one("CALLBACK_SIGNING_KEY_PREVIOUS", "CALLBACK_SIGNING_KEY_PREVIOUS_FILE", 0, &prev,
                 &prev_len, e) != AGG_OK)
        return AGG_ERR;
    return cap_keys_init(k, cur, cur_len, prev, prev_len, e);
}

/* The signature of (cid, source, exp digits) with the keyed ctx into sig (CAP_SIG_LEN + 1 bytes);
 * AGG_ERR when libcrypto fails. The fields are NUL-separated: none can hold a NUL, so no two
 * tuples give the same text. */
static int signature(EVP_MAC_CTX *ctx, const char *cid, size_t cid_len, const char *source,
                     size_t source_len, const char *exp, size_t exp_len,
                     char sig[CAP_SIG_LEN + 1]) {
    unsigned char msg[3 + CAP_FIELD_MAX + 1 + CAP_FIELD_MAX + 1 + CAP_EXP_DIGITS_MAX];
    size_t n = 0;
    memcpy(msg, "v1", 3), n = 3; /* with its NUL */
    memcpy(msg + n, cid, cid_len), n += cid_len, msg[n++] = '\0';
    memcpy(msg + n, source, source_len), n += source_len, msg[n++] = '\0';
    memcpy(msg + n, exp, exp_len), n += exp_len;
    unsigned char mac[CAP_MAC_LEN];
    size_t mac_len = 0;
    /* A NULL key re-keys with the context's own: no allocation, no key schedule. */
    if (!EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, msg, n) ||
        !EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) || mac_len != CAP_MAC_LEN)
        return AGG_ERR;
    unsigned char b64[4 * ((CAP_MAC_LEN + 2) / 3) + 1];
    EVP_EncodeBlock(b64, mac, CAP_MAC_LEN);
    for (int i = 0; i < CAP_SIG_LEN; i++)
        sig[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    sig[CAP_SIG_LEN] = '\0';
    return AGG_OK;
}

size_t cap_sign(const cap_keys *k, const char *cid, const char *source, long long exp,
                char out[CAP_MAX_LEN + 1]) {
    size_t cid_len = strlen(cid), source_len = strlen(source);
    char digits[CAP_EXP_DIGITS_MAX + 2];
    int dn = snprintf(digits, sizeof digits, "%lld", exp);
    out[0] = '\0';
    if (exp < 0 || dn <= 0 || dn > CAP_EXP_DIGITS_MAX || cid_len > CAP_FIELD_MAX ||
        source_len > CAP_FIELD_MAX)
        return 0;
    memcpy(out, CAP_PREFIX, CAP_PREFIX_LEN);
    memcpy(out + CAP_PREFIX_LEN, digits, (size_t)dn);
    out[CAP_PREFIX_LEN + dn] = '.';
    if (k->cur == NULL || signature(k->cur, cid, cid_len, source, source_len, digits, (size_t)dn,
                                    out + CAP_PREFIX_LEN + dn + 1) != AGG_OK) {
        out[0] = '\0';
        return 0;
    }
    return CAP_PREFIX_LEN + (size_t)dn + 1 + CAP_SIG_LEN;
}

static int is_b64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

cap_result cap_verify(const cap_keys *k, const char *cap, const char *cid, const char *source,
                      long long now_s) {
    if (cap == NULL || cap[0] == '\0') return CAP_MISSING;
    if (strncmp(cap, CAP_PREFIX, CAP_PREFIX_LEN) != 0) return CAP_MALFORMED;
    const char *exp = cap + CAP_PREFIX_LEN;
    size_t dn = 0;
    while (dn <= CAP_EXP_DIGITS_MAX && exp[dn] >= '0' && exp[dn] <= '9') dn++;
    /* One spelling per expiry: no leading zero. */
    if (dn == 0 || dn > CAP_EXP_DIGITS_MAX || exp[dn] != '.' || (exp[0] == '0' && dn > 1))
        return CAP_MALFORMED;
    const char *sig = exp + dn + 1;
    for (int i = 0; i < CAP_SIG_LEN; i++)
        if (!is_b64url(sig[i])) return CAP_MALFORMED;
    if (sig[CAP_SIG_LEN] != '\0') return CAP_MALFORMED;
    size_t cid_len = strlen(cid), source_len = strlen(source);
    if (cid_len > CAP_FIELD_MAX || source_len > CAP_FIELD_MAX) return CAP_BAD_SIGNATURE;
    char want[CAP_SIG_LEN + 1];
    EVP_MAC_CTX *ctx[2] = {k->cur, k->prev};
    int ok = 0;
    for (int i = 0; i < 2 && !ok; i++)
        ok = ctx[i] &&
             signature(ctx[i], cid, cid_len, source, source_len, exp, dn, want) == AGG_OK &&
             CRYPTO_memcmp(want, sig, CAP_SIG_LEN) == 0;
    if (!ok) return CAP_BAD_SIGNATURE;
    long long e = 0;
    for (size_t i = 0; i < dn; i++) e = e * 10 + (exp[i] - '0');
    return now_s > e ? CAP_EXPIRED : CAP_VALID;
}

size_t cap_url(char *out, size_t size, const char *url, const char *cap) {
    size_t base = strcspn(url, "#");
    char sep = memchr(url, '?', base) ? '&' : '?';
    int n = snprintf(out, size, "%.*s%ccap=%s%s", (int)base, url, sep, cap, url + base);
    if (n < 0 || (size_t)n >= size) {
        if (size) out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

long long cap_expiry(long long deadline_ms) {
    long long s = deadline_ms / 1000 + (deadline_ms % 1000 > 0);
    return s + CAP_GRACE_S;
}

const char *cap_result_name(cap_result r) {
    switch (r) {
    case CAP_VALID: return "valid";
    case CAP_MISSING: return "missing";
    case CAP_MALFORMED: return "malformed";
    case CAP_BAD_SIGNATURE: return "bad_signature";
    case CAP_EXPIRED: return "expired";
    }
    return "malformed";
}
