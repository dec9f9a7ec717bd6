/* phash: the keyed hash that stands for a patient id in logs (HMAC-SHA256) (pure). */
#ifndef AGG_PHASH_H
#define AGG_PHASH_H

#include <stddef.h>

#define PHASH_MAC_LEN 32
/* "p-" and the first 16 hex digits of the MAC */
#define PHASH_PATIENT_LEN 18

/* out = HMAC-SHA256(key, msg). key and msg borrowed for the call; both may be
 * empty. Never fails (the digest is built in). */
void phash_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                       unsigned char out[PHASH_MAC_LEN]);
/* Writes "p-" + the first 16 lower-case hex digits of HMAC-SHA256(key, id) and
 * a NUL into out (PHASH_PATIENT_LEN + 1 bytes). id NULL hashes "". */
void phash_patient(const void *key, size_t key_len, const char *id,
                   char out[PHASH_PATIENT_LEN + 1]);

#endif
