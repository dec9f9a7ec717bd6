/* test_phash: HMAC-SHA256 against RFC 4231's vectors, and the patient hash's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "phash.h"

static void hex(const unsigned char *b, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void rfc4231_case_1_and_2(void **state) {
    unsigned char mac[PHASH_MAC_LEN];
    char h[2 * PHASH_MAC_LEN + 1];
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof key1);
    phash_hmac_sha256(key1, sizeof key1, "Hi There", 8, mac);
    hex(mac, sizeof mac, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    phash_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hex(mac, sizeof mac, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* Case 6: a key longer than the block size is hashed first. */
static void rfc4231_case_6_long_key(void **state) {
    unsigned char key[131];
    memset(key, 0xaa, sizeof key);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    unsigned char mac[PHASH_MAC_LEN];
    char h[2 * PHASH_MAC_LEN + 1];
    phash_hmac_sha256(key, sizeof key, msg, strlen(msg), mac);
    hex(mac, sizeof mac, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void patient_hash_is_prefix_of_mac(void **state) {
    char out[PHASH_PATIENT_LEN + 1];
    phash_patient("Jefe", 4, "what do ya want for nothing?", out);
    assert_string_equal(out, "p-5bdcc146bf60754e");
    char other[PHASH_PATIENT_LEN + 1];
    phash_patient("Jeff", 4, "what do ya want for nothing?", other);
    assert_string_not_equal(out, other); /* the key matters */
    phash_patient("", 0, NULL, other);   /* no key, no id: still a hash of the right form */
    assert_int_equal(strlen(other), PHASH_PATIENT_LEN);
    assert_memory_equal(other, "p-", 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4231_case_1_and_2),
        cmocka_unit_test(rfc4231_case_6_long_key),
        cmocka_unit_test(patient_hash_is_prefix_of_mac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
