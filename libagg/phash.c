/* phash: HMAC-SHA256 through libcrypto, and the short form logs show for a patient id. */
#include "phash.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

void phash_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                       unsigned char out[PHASH_MAC_LEN]) {
    unsigned len = PHASH_MAC_LEN;
    /* HMAC() with a NULL key pointer would mean "reuse the last key": pass an empty one. */
    static const unsigned char none[1];
    if (!HMAC(EVP_sha256(), key_len ? key : none, (int)key_len, msg_len ? msg : none, msg_len,
              out, &len))
        memset(out, 0, PHASH_MAC_LEN); /* only on a broken libcrypto; logs then show p-000... */
}

void phash_patient(const void *key, size_t key_len, const char *id,
                   char out[PHASH_PATIENT_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[PHASH_MAC_LEN];
    if (!id) id = "";
    phash_hmac_sha256(key, key_len, id, strlen(id), mac);
    out[0] = 'p', out[1] = '-';
    for (int i = 0; i < 8; i++) {
        out[2 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i] = hex[mac[i] & 15];
    }
    out[PHASH_PATIENT_LEN] = '\0';
}
