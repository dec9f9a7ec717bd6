/* test_capability: signing and checking callback capabilities, their refusals and key loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capability.h"
#include "cfg.h"
#include "failalloc.h"

#define KEY  "0123456789abcdef0123456789abcdef"
#define KEY2 "fedcba9876543210fedcba9876543210"
#define CID  "7d8e3a52-3c1b-4f7e-9a4d-2b6c8e1f0a93"
#define CID2 "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"
#define NOW  1700000000LL

static cap_keys keys, other, rotated;

static int make_keys(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(cap_keys_init(&keys, KEY, 32, NULL, 0, &e), AGG_OK);
    assert_int_equal(cap_keys_init(&other, KEY2, 32, NULL, 0, &e), AGG_OK);
    assert_int_equal(cap_keys_init(&rotated, KEY2, 32, KEY, 32, &e), AGG_OK);
    return 0;
}

static int free_keys(void **state) {
    (void)state;
    cap_keys_free(&keys);
    cap_keys_free(&other);
    cap_keys_free(&rotated);
    cap_keys_free(&rotated); /* harmless twice */
    return 0;
}

/* The same vector as tests/integration/aggtest.py's signer computes (Python's hmac): the
 * format is the contract between the worker, the gateway and the tests. */
static void test_sign_known_vector(void **state) {
    (void)state;
    char cap[CAP_MAX_LEN + 1];
    size_t n = cap_sign(&keys, CID, "hospital-a", NOW + 60, cap);
    assert_string_equal(cap, "v1.1700000060.zjzR833wDA0nAOcXDiRNPrN62gS-rg9NAgvsW5GFryU");
    assert_int_equal(n, strlen(cap));
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW), CAP_VALID);
    /* Valid up to and including its expiry second. */
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW + 60), CAP_VALID);
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW + 61), CAP_EXPIRED);
}

static void test_refused_for_another_session_source_or_key(void **state) {
    (void)state;
    char cap[CAP_MAX_LEN + 1];
    cap_sign(&keys, CID, "hospital-a", NOW + 60, cap);
    assert_int_equal(cap_verify(&keys, cap, CID2, "hospital-a", NOW), CAP_BAD_SIGNATURE);
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-b", NOW), CAP_BAD_SIGNATURE);
    assert_int_equal(cap_verify(&other, cap, CID, "hospital-a", NOW), CAP_BAD_SIGNATURE);
    /* The separators keep (cid, source) pairs apart that concatenate alike. */
    char c2[CAP_MAX_LEN + 1];
    cap_sign(&keys, "ab", "c", NOW, cap);
    cap_sign(&keys, "a", "bc", NOW, c2);
    assert_string_not_equal(cap, c2);
    assert_int_equal(cap_verify(&keys, cap, "a", "bc", NOW), CAP_BAD_SIGNATURE);
    /* A changed expiry breaks the signature, even when later. */
    cap_sign(&keys, CID, "hospital-a", NOW - 5, cap);
    char forged[CAP_MAX_LEN + 1];
    snprintf(forged, sizeof forged, "v1.%lld.%s", NOW + 3600, strrchr(cap, '.') + 1);
    assert_int_equal(cap_verify(&keys, forged, CID, "hospital-a", NOW), CAP_BAD_SIGNATURE);
    /* The signature is checked first: an expired capability that is not ours is a forgery. */
    cap_sign(&other, CID, "hospital-a", NOW - 5, cap);
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW), CAP_BAD_SIGNATURE);
    cap_sign(&keys, CID, "hospital-a", NOW - 5, cap);
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW), CAP_EXPIRED);
}

static void test_rotation_accepts_the_previous_key_and_signs_with_the_current(void **state) {
    (void)state;
    char old[CAP_MAX_LEN + 1], cur[CAP_MAX_LEN + 1];
    cap_sign(&keys, CID, "hospital-a", NOW + 60, old);
    cap_sign(&rotated, CID, "hospital-a", NOW + 60, cur);
    assert_string_not_equal(old, cur);
    assert_int_equal(cap_verify(&rotated, old, CID, "hospital-a", NOW), CAP_VALID);
    assert_int_equal(cap_verify(&rotated, cur, CID, "hospital-a", NOW), CAP_VALID);
    assert_int_equal(cap_verify(&other, cur, CID, "hospital-a", NOW), CAP_VALID);
    assert_int_equal(cap_verify(&other, old, CID, "hospital-a", NOW), CAP_BAD_SIGNATURE);
    assert_int_equal(cap_verify(&keys, cur, CID, "hospital-a", NOW), CAP_BAD_SIGNATURE);
}

static void test_missing_and_malformed(void **state) {
    (void)state;
    char cap[CAP_MAX_LEN + 1];
    cap_sign(&keys, CID, "s", NOW, cap);
    const char *sig = strrchr(cap, '.') + 1;
    assert_int_equal(cap_verify(&keys, NULL, CID, "s", NOW), CAP_MISSING);
    assert_int_equal(cap_verify(&keys, "", CID, "s", NOW), CAP_MISSING);
    char b[256];
    const char *bad[] = {"v1",
                         "v1.",
                         "v2.1700000000.x",
                         "garbage",
                         "v1..sig",
                         "v1.17x.sig",
                         "v1.1700000000.",
                         "v1.1700000000.short",
                         "V1.1.abc",
                         "v1.-1700000000.zjzR833wDA0nAOcXDiRNPrN62gS-rg9NAgvsW5GFryU",
                         "v1.1234567890123456789.zjzR833wDA0nAOcXDiRNPrN62gS-rg9NAgvsW5GFryU"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cap_verify(&keys, bad[i], CID, "s", NOW), CAP_MALFORMED);
    snprintf(b, sizeof b, "v1.0%lld.%s", NOW, sig); /* a second spelling of the expiry */
    assert_int_equal(cap_verify(&keys, b, CID, "s", NOW), CAP_MALFORMED);
    snprintf(b, sizeof b, "%sA", cap); /* too long */
    assert_int_equal(cap_verify(&keys, b, CID, "s", NOW), CAP_MALFORMED);
    snprintf(b, sizeof b, "%s", cap);
    b[strlen(b) - 1] = '='; /* padding or another alphabet */
    assert_int_equal(cap_verify(&keys, b, CID, "s", NOW), CAP_MALFORMED);
    b[strlen(b) - 1] = '+';
    assert_int_equal(cap_verify(&keys, b, CID, "s", NOW), CAP_MALFORMED);
    /* Fields over CAP_FIELD_MAX are never signed, so never valid. */
    char longf[CAP_FIELD_MAX + 2];
    memset(longf, 'x', sizeof longf - 1);
    longf[sizeof longf - 1] = '\0';
    assert_int_equal(cap_sign(&keys, longf, "s", NOW, b), 0);
    assert_string_equal(b, "");
    assert_int_equal(cap_sign(&keys, CID, longf, NOW, b), 0);
    assert_int_equal(cap_sign(&keys, CID, "s", -1, b), 0);
    assert_int_equal(cap_verify(&keys, cap, longf, "s", NOW), CAP_BAD_SIGNATURE);
    assert_string_equal(cap_result_name(CAP_MISSING), "missing");
    assert_string_equal(cap_result_name(CAP_MALFORMED), "malformed");
    assert_string_equal(cap_result_name(CAP_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(cap_result_name(CAP_EXPIRED), "expired");
    assert_string_equal(cap_result_name(CAP_VALID), "valid");
}

/* Keyed contexts give what a one-shot HMAC of the same text gives (the vector above), however
 * often reused, and a zeroed cap_keys signs nothing and accepts nothing. */
static void test_reused_context_and_no_keys(void **state) {
    (void)state;
    char a[CAP_MAX_LEN + 1], b[CAP_MAX_LEN + 1];
    cap_sign(&keys, CID, "hospital-b", NOW, a);
    for (int i = 0; i < 1000; i++) cap_sign(&keys, CID, "hospital-a", NOW + i, b);
    cap_sign(&keys, CID, "hospital-b", NOW, b);
    assert_string_equal(a, b);
    cap_keys none;
    memset(&none, 0, sizeof none);
    assert_int_equal(cap_sign(&none, CID, "s", NOW, a), 0);
    assert_string_equal(a, "");
    assert_int_equal(cap_verify(&none, b, CID, "hospital-b", NOW), CAP_BAD_SIGNATURE);
    err_t e;
    assert_int_equal(cap_keys_init(&none, NULL, 0, NULL, 0, &e), AGG_ERR);
    cap_keys_free(&none);
}

static void test_url_gets_the_parameter(void **state) {
    (void)state;
    char out[128];
    assert_int_equal(cap_url(out, sizeof out, "http://gw:8080/aggregate/callback", "v1.1.x"),
                     strlen("http://gw:8080/aggregate/callback?cap=v1.1.x"));
    assert_string_equal(out, "http://gw:8080/aggregate/callback?cap=v1.1.x");
    cap_url(out, sizeof out, "http://gw/aggregate/callback?tenant=a", "v1.1.x");
    assert_string_equal(out, "http://gw/aggregate/callback?tenant=a&cap=v1.1.x");
    cap_url(out, sizeof out, "http://gw/cb?t=a#frag", "v1.1.x");
    assert_string_equal(out, "http://gw/cb?t=a&cap=v1.1.x#frag");
    cap_url(out, sizeof out, "http://gw/cb#a?b", "v1.1.x");
    assert_string_equal(out, "http://gw/cb?cap=v1.1.x#a?b");
    /* Too small: nothing half-written. */
    assert_int_equal(cap_url(out, 20, "http://gw:8080/aggregate/callback", "v1.1.x"), 0);
    assert_string_equal(out, "");
    assert_int_equal(cap_url(out, strlen("http://gw/cb?cap=v1") + 1, "http://gw/cb", "v1"),
                     strlen("http://gw/cb?cap=v1"));
}

static void test_expiry_rounds_up_and_adds_the_grace(void **state) {
    (void)state;
    assert_int_equal(cap_expiry(1700000000000LL), 1700000000LL + CAP_GRACE_S);
    assert_int_equal(cap_expiry(1700000000001LL), 1700000001LL + CAP_GRACE_S);
    assert_int_equal(cap_expiry(1700000000999LL), 1700000001LL + CAP_GRACE_S);
}

static int unset_keys(void **state) {
    (void)state;
    unsetenv("CALLBACK_SIGNING_KEY");
    unsetenv("CALLBACK_SIGNING_KEY_FILE");
    unsetenv("CALLBACK_SIGNING_KEY_PREVIOUS");
    unsetenv("CALLBACK_SIGNING_KEY_PREVIOUS_FILE");
    cfg_secrets_free();
    cfg_vars_clear();
    return 0;
}

static void write_temp(char path[64], const char *text) {
    strcpy(path, "/tmp/agg-test-capkey-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_keys_load(void **state) {
    (void)state;
    cap_keys k;
    err_t e;
    assert_int_equal(cap_keys_load(&k, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "CALLBACK_SIGNING_KEY"));
    assert_non_null(strstr(e.text, "required"));
    setenv("CALLBACK_SIGNING_KEY", "short-key-of-31-bytes-123456789", 1);
    assert_int_equal(cap_keys_load(&k, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "at least 32"));
    assert_null(strstr(e.text, "short-key")); /* never the key */
    setenv("CALLBACK_SIGNING_KEY", KEY, 1);
    assert_int_equal(cap_keys_load(&k, &e), AGG_OK);
    assert_non_null(k.cur);
    assert_null(k.prev);
    char cap[CAP_MAX_LEN + 1];
    cap_sign(&k, CID, "hospital-a", NOW + 60, cap);
    assert_int_equal(cap_verify(&keys, cap, CID, "hospital-a", NOW), CAP_VALID); /* KEY's */
    cap_keys_free(&k);
    setenv("CALLBACK_SIGNING_KEY_PREVIOUS", "too-short", 1);
    assert_int_equal(cap_keys_load(&k, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "CALLBACK_SIGNING_KEY_PREVIOUS"));
    assert_null(strstr(e.text, "too-short"));
    unsetenv("CALLBACK_SIGNING_KEY_PREVIOUS");
    char path[64];
    write_temp(path, KEY2 "\n");
    setenv("CALLBACK_SIGNING_KEY_PREVIOUS_FILE", path, 1);
    assert_int_equal(cap_keys_load(&k, &e), AGG_OK);
    assert_non_null(k.prev);
    cap_sign(&other, CID, "hospital-a", NOW + 60, cap); /* signed with KEY2: the previous key */
    assert_int_equal(cap_verify(&k, cap, CID, "hospital-a", NOW), CAP_VALID);
    cap_keys_free(&k);
    /* Both the variable and its file: refused, naming the variable only. */
    setenv("CALLBACK_SIGNING_KEY_FILE", path, 1);
    assert_int_equal(cap_keys_load(&k, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "CALLBACK_SIGNING_KEY"));
    assert_null(strstr(e.text, KEY));
    unsetenv("CALLBACK_SIGNING_KEY_FILE");
    /* Out of memory while copying the file's key: an error, never a half-loaded key. */
    for (size_t n = 1;; n++) {
        cfg_secrets_free();
        failalloc_arm(n);
        int rc = cap_keys_load(&k, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(rc, AGG_OK);
            assert_non_null(k.prev);
            cap_keys_free(&k);
            break;
        }
        if (rc == AGG_ERR) {
            assert_true(err_is_nomem(&e));
            assert_null(k.cur); /* nothing half-made */
        } else {
            assert_non_null(k.prev);
        }
        cap_keys_free(&k);
    }
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_vector),
        cmocka_unit_test(test_refused_for_another_session_source_or_key),
        cmocka_unit_test(test_rotation_accepts_the_previous_key_and_signs_with_the_current),
        cmocka_unit_test(test_missing_and_malformed),
        cmocka_unit_test(test_reused_context_and_no_keys),
        cmocka_unit_test(test_url_gets_the_parameter),
        cmocka_unit_test(test_expiry_rounds_up_and_adds_the_grace),
        cmocka_unit_test_setup_teardown(test_keys_load, unset_keys, unset_keys),
    };
    return cmocka_run_group_tests(tests, make_keys, free_keys);
}
