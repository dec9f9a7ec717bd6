/* Unit tests for jwtauth: tokens made here with libjwt and fixed test keys, every refusal, the key files, memory failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "jwtauth.h"

/* Test keys, made for these tests only (openssl genrsa 2048, ecparam prime256v1). */
static const char RSA_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDKN4aUQAFNWfDJ\n"
    "+AS2eF0Hy8ahZFd8fODCBnBQaoq0Rq/lydmT8bnynCcvDvDpNfiSQdK7OnS8TsgI\n"
    "l4ls0za9HWTKNTuGvDCpk5UE64qbj6I3oR8KAcVGNUtET6GC27bzlNtLVSZUKCnI\n"
    "2cXnP3OfjMiy2a3nNOHiWjk8mQRN//sNve/dAE505JaGk6mkT01uTaE8f2GWGOmW\n"
    "Vt1G4mN0bI3xzwO8zfWSWiuZ3Bv0vh7NWVGXMLddPAt8IixE6HT+E/l7FixsyINW\n"
    "pZFBGRD0jkapt2TAT3CvGVd8zZWrunffc/smnB2n4eZlXSkJbF1xoPZgMyXP5AhL\n"
    "hi69gIz1AgMBAAECggEADE9+jipqWeDql4UVll0z/qxBaqRe7hl1HmLBdifSS2DN\n"
    "Rw43hHnwEcy/Vu5QLMZoHFFNCLBpmGgsZdeB2oHuQGuYbfX5Kn3s8XnmVc8YGFnR\n"
    "bJUOvG94qMpIS3+Ui9Cf7erHQeoMZA2w44UcdvRGL/WkZzz4yQ1PXhYTi3SeTjg2\n"
    "LWkh5iqfXvM8bNqQpUWl00cQDKmhrEaSQEnBObbBtSFX8XjA4fwEt8nOdCT2Hkih\n"
    "zHjOzronk1HcDbdeNQH2R7uG1bTu2vc5kUS4edniIs6yGi53SRxc5a9Sol6gFLz1\n"
    "TW86rGj77buUTw9Vo8DsEmTqh/qNrhcfdl8WlR3NeQKBgQD3mM4OBwybmFlBx2O0\n"
    "3bBFK3hbl0wSl+YcBsNrxutKj7yVxUK+612Vd40TZ/J1VhjIBFo6dUTecSfBb9Fj\n"
    "WJyqJDMwwxdBk1yKdyrEn2VJq9rSixv19QfG2M8fTppKFsJXSbxlZ+d4LxW7+Q+5\n"
    "nh0n0G2TeN6/IMewSRX4i2mk3QKBgQDRFHIqCJu+Lo459+zjae7UnQ4ybf3KOgg6\n"
    "aKTQpERz1mxugUvnu3wrLnMvQ+Z1NqKjiQBrfYztwt+y1vviWy1oeXvAuzgJKE6I\n"
    "271ar+RBaKIy/AjBSd3nZldJ3IjUX4insJ20JmKfXMHVI71G7P9upszCmHdYMI8d\n"
    "UMOIO5fa+QKBgQCEoSPvu7LzPj7Bz68HWaFszAZi+b7UTu4CoVTZTOsJO8nHaK2C\n"
    "W837nNjDRnFIjWAk9L/ohJzpky+6nM1LLFJviYiqXDb+95Mg0Qjl3oSBXD+RfNbz\n"
    "f9g0mjsJCC/59AsSevsiTvBdHsvDr3zO73WquCmaT6ryMvsE4YGVbAihOQKBgHxB\n"
    "33uVtCG5/3L6IoIhQfx//qD/95XJGXzFFjadecUySSz/kMH/DdOH/pK3ku5UcyIn\n"
    "2OUJL8laSKI73GTxdTIjCOZJHgtrNglmNsn/wPMSoVsVqIpfQQ82JmhSNcupn0ix\n"
    "0XfwXCqD8PqgC+xsC36SiRyZikwSR+vPRPXhHOXZAoGAN+3KW3IRQIAh94uPR2dE\n"
    "Kg4+/YYID40baty/kOLXhVXqmJ1TpldXSYplDfB19tKWu4o20Kx9zHhkb15/XomK\n"
    "3zOKbWLnVroQp4f4/yYruuXQeSVnbW19wva1tCyH9SQ77ofrxA9/2c8yr5A94ppz\n"
    "z8ThYxp1XnQ6bEF80brPlHk=\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char RSA_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyjeGlEABTVnwyfgEtnhd\n"
    "B8vGoWRXfHzgwgZwUGqKtEav5cnZk/G58pwnLw7w6TX4kkHSuzp0vE7ICJeJbNM2\n"
    "vR1kyjU7hrwwqZOVBOuKm4+iN6EfCgHFRjVLRE+hgtu285TbS1UmVCgpyNnF5z9z\n"
    "n4zIstmt5zTh4lo5PJkETf/7Db3v3QBOdOSWhpOppE9Nbk2hPH9hlhjpllbdRuJj\n"
    "dGyN8c8DvM31klormdwb9L4ezVlRlzC3XTwLfCIsROh0/hP5exYsbMiDVqWRQRkQ\n"
    "9I5GqbdkwE9wrxlXfM2Vq7p333P7Jpwdp+HmZV0pCWxdcaD2YDMlz+QIS4YuvYCM\n"
    "9QIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;
static const char EC_PEM[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEILczJxFn3XaJhanU7KQqfWbj0uKMzvQEAJzXZFcFmirKoAoGCCqGSM49\n"
    "AwEHoUQDQgAEjj+BgSeGpqLUFMnOdzPmMPEHQEwmFUZ5CvXrI5PzZwrh/luqaYi/\n"
    "URG7ppNkjM5+YbLWlEbNJEqWngQbvgyhnQ==\n"
    "-----END EC PRIVATE KEY-----\n"
    ;
static const char EC_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjj+BgSeGpqLUFMnOdzPmMPEHQEwm\n"
    "FUZ5CvXrI5PzZwrh/luqaYi/URG7ppNkjM5+YbLWlEbNJEqWngQbvgyhnQ==\n"
    "-----END PUBLIC KEY-----\n"
    ;
static const char RSA1024_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCY4Copi/frvcwYkFMMBxVgS6Hm\n"
    "pRESn3T6LNLRZR52DyUBXhh981zy0GLIw0NBsDANpuqidnwSkeh56cHfwiPZ2uC3\n"
    "rMOCsEZqP7lzmY3GaD/W9qs1OZ6ksi6GBx1gj3nrJTFZ+MuP49hRXp7lg4WYqjte\n"
    "/4aRW9loebEFZtcBqQIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

/* The JWKS of RSA_PUB (kid rsa-1) and EC_PUB (kid ec-1). */
#define JWK_RSA                                                                                    \
    "{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"use\":\"sig\",\"alg\":\"RS256\",\"e\":\"AQAB\",\"n\":\"" \
    "yjeGlEABTVnwyfgEtnhdB8vGoWRXfHzgwgZwUGqKtEav5cnZk_G58pwnLw7w6TX4kkHSuzp0vE7ICJeJbNM2vR1kyjU" \
    "7hrwwqZOVBOuKm4-iN6EfCgHFRjVLRE-hgtu285TbS1UmVCgpyNnF5z9zn4zIstmt5zTh4lo5PJkETf_7Db3v3QBOdOS" \
    "WhpOppE9Nbk2hPH9hlhjpllbdRuJjdGyN8c8DvM31klormdwb9L4ezVlRlzC3XTwLfCIsROh0_hP5exYsbMiDVqWRQRk" \
    "Q9I5GqbdkwE9wrxlXfM2Vq7p333P7Jpwdp-HmZV0pCWxdcaD2YDMlz-QIS4YuvYCM9Q\"}"
#define JWK_EC_XY                                                                                  \
    "\"x\":\"jj-BgSeGpqLUFMnOdzPmMPEHQEwmFUZ5CvXrI5PzZwo\","                                       \
    "\"y\":\"4f5bqmmIv1ERu6aTZIzOfmGy1pRGzSRKlp4EG74MoZ0\""
#define JWK_EC "{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\"," JWK_EC_XY "}"
#define JWKS "{\"keys\":[" JWK_RSA "," JWK_EC "]}"

#define SECRET "0123456789abcdef0123456789abcdef-hs256"
#define NOW 1800000000LL

/* A token signed with alg and key (NULL: alg none), header kid (NULL: none) and the claims. */
static char *token(jwt_alg_t alg, const char *key, const char *kid, const char *claims) {
    jwt_t *j;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims), 0);
    if (kid) assert_int_equal(jwt_add_header(j, "kid", kid), 0);
    assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0), 0);
    char *t = jwt_encode_str(j);
    assert_non_null(t);
    jwt_free(j);
    return t;
}

static const jwtauth_options base = {.issuer = "https://idp.test", .audience = "aggregator",
                                     .skew_s = 60, .roles_claim = NULL, .admin_role = NULL};

static jwtauth *verifier_hs(void) {
    jwtauth_options o = base;
    o.hs_secret = SECRET;
    o.hs_secret_len = strlen(SECRET);
    jwtauth *a = jwtauth_new(&o, NULL);
    assert_non_null(a);
    return a;
}

/* Verifies t (then frees it) with a; the reason, *p when OK. */
static jwtauth_reason check(const jwtauth *a, char *t, jwtauth_principal *p) {
    jwtauth_principal dummy;
    const char *desc = NULL;
    int nomem = 7;
    jwtauth_reason r = jwtauth_verify(a, t, strlen(t), NOW, p ? p : &dummy, &desc, &nomem);
    assert_int_equal(nomem, 0);
    if (r != JWTAUTH_OK) {
        assert_non_null(desc);
        assert_null(strchr(desc, '"'));
    }
    free(t);
    return r;
}

#define CLAIMS(extra)                                                                              \
    "{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"alice\","                      \
    "\"exp\":1800000300" extra "}"

static void hs256_accepted_with_principal_and_roles(void **state) {
    (void)state;
    jwtauth *a = verifier_hs();
    jwtauth_principal p;
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL, CLAIMS("")), &p), JWTAUTH_OK);
    assert_string_equal(p.sub, "alice");
    assert_false(p.admin);
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, "any", CLAIMS(",\"roles\":[\"x\","
                                                                         "\"aggregator-admin\"]")),
                           &p),
                     JWTAUTH_OK);
    assert_true(p.admin);
    /* A role given as a string, not an array, is no role. */
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL,
                                    CLAIMS(",\"roles\":\"aggregator-admin\"")),
                           &p),
                     JWTAUTH_OK);
    assert_false(p.admin);
    /* aud as an array holding ours. */
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL,
                                    "{\"iss\":\"https://idp.test\",\"aud\":[\"x\",\"aggregator\"],"
                                    "\"sub\":\"bob\",\"exp\":1800000300}"),
                           &p),
                     JWTAUTH_OK);
    assert_string_equal(p.sub, "bob");
    jwtauth_free(a);
}

static void time_claims_with_skew(void **state) {
    (void)state;
    jwtauth *a = verifier_hs();
    const char *c[][2] = {
        /* exp 30 s ago: inside the 60 s skew; 61 s ago: expired */
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1799999970}", "ok"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1799999939}", "expired"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1800000300,"
         "\"nbf\":1800000050}", "ok"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1800000300,"
         "\"nbf\":1800000061}", "not_yet_valid"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1800000300,"
         "\"nbf\":\"soon\"}", "malformed"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\"}", "malformed"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":\"x\"}", "malformed"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        assert_string_equal(jwtauth_reason_name(check(a, token(JWT_ALG_HS256, SECRET, NULL, c[i][0]),
                                                      NULL)),
                            c[i][1]);
    jwtauth_free(a);
}

static void issuer_audience_subject(void **state) {
    (void)state;
    jwtauth *a = verifier_hs();
    const char *c[][2] = {
        {"{\"iss\":\"https://evil.test\",\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1800000300}", "wrong_issuer"},
        {"{\"aud\":\"aggregator\",\"sub\":\"a\",\"exp\":1800000300}", "wrong_issuer"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"other\",\"sub\":\"a\",\"exp\":1800000300}", "wrong_audience"},
        {"{\"iss\":\"https://idp.test\",\"aud\":[\"other\"],\"sub\":\"a\",\"exp\":1800000300}", "wrong_audience"},
        {"{\"iss\":\"https://idp.test\",\"sub\":\"a\",\"exp\":1800000300}", "wrong_audience"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"exp\":1800000300}", "malformed"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"\",\"exp\":1800000300}", "malformed"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":\"a\\nb\",\"exp\":1800000300}", "malformed"},
        {"{\"iss\":\"https://idp.test\",\"aud\":\"aggregator\",\"sub\":7,\"exp\":1800000300}", "malformed"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        assert_string_equal(jwtauth_reason_name(check(a, token(JWT_ALG_HS256, SECRET, NULL, c[i][0]),
                                                      NULL)),
                            c[i][1]);
    jwtauth_free(a);
    /* Without JWT_ISSUER and JWT_AUDIENCE neither is checked. */
    jwtauth_options o = {.hs_secret = SECRET, .hs_secret_len = strlen(SECRET), .skew_s = 0};
    a = jwtauth_new(&o, NULL);
    assert_non_null(a);
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL,
                                    "{\"sub\":\"a\",\"exp\":1800000300}"),
                           NULL),
                     JWTAUTH_OK);
    jwtauth_free(a);
}

static void signatures_and_algorithms(void **state) {
    (void)state;
    jwtauth *hs = verifier_hs();
    assert_int_equal(check(hs, token(JWT_ALG_HS256, SECRET "x", NULL, CLAIMS("")), NULL),
                     JWTAUTH_BAD_SIGNATURE);
    assert_int_equal(check(hs, token(JWT_ALG_NONE, NULL, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(hs, token(JWT_ALG_HS512, SECRET, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(hs, token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    jwtauth_free(hs);

    jwtauth_options o = base;
    o.public_key_pem = RSA_PUB;
    jwtauth *rs = jwtauth_new(&o, NULL);
    assert_non_null(rs);
    jwtauth_principal p;
    assert_int_equal(check(rs, token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS("")), &p), JWTAUTH_OK);
    assert_string_equal(p.sub, "alice");
    /* The RSA public key as an HMAC secret: anyone could sign so. */
    assert_int_equal(check(rs, token(JWT_ALG_HS256, RSA_PUB, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(rs, token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(rs, token(JWT_ALG_NONE, NULL, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    /* The payload changed after signing. */
    char *t = token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS(""));
    char *other = token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS(",\"roles\":[\"aggregator-admin\"]"));
    char *dot = strchr(t, '.'), *odot = strchr(other, '.');
    char *forged = malloc(strlen(t) + strlen(other));
    size_t hl = (size_t)(dot - t);
    memcpy(forged, t, hl);
    strcpy(forged + hl, odot); /* header of t, payload and signature of other: still valid */
    char *sig = strrchr(forged, '.'), *tsig = strrchr(t, '.');
    strcpy(sig, tsig); /* other's payload with t's signature */
    assert_int_equal(check(rs, forged, NULL), JWTAUTH_BAD_SIGNATURE);
    free(t);
    free(other);
    jwtauth_free(rs);

    o.public_key_pem = EC_PUB;
    jwtauth *es = jwtauth_new(&o, NULL);
    assert_non_null(es);
    assert_int_equal(check(es, token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS("")), &p), JWTAUTH_OK);
    assert_int_equal(check(es, token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(es, token(JWT_ALG_HS256, EC_PUB, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    /* r || s cut short, and one bit of s flipped: both refused as signatures. */
    t = token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS(""));
    char *cut = strdup(t);
    cut[strlen(cut) - 4] = '\0';
    assert_int_equal(check(es, cut, NULL), JWTAUTH_BAD_SIGNATURE);
    size_t last = strlen(t) - 2;
    t[last] = t[last] == 'A' ? 'B' : 'A';
    assert_int_equal(check(es, t, NULL), JWTAUTH_BAD_SIGNATURE);
    /* A payload changed under a valid ES256 signature. */
    t = token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS(""));
    other = token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS(",\"roles\":[\"aggregator-admin\"]"));
    forged = malloc(strlen(t) + strlen(other));
    dot = strchr(t, '.');
    odot = strchr(other, '.');
    memcpy(forged, t, (size_t)(dot - t));
    strcpy(forged + (dot - t), odot);
    strcpy(strrchr(forged, '.'), strrchr(t, '.'));
    assert_int_equal(check(es, forged, NULL), JWTAUTH_BAD_SIGNATURE);
    free(t);
    free(other);
    jwtauth_free(es);
}

static void jwks_keys_by_kid(void **state) {
    (void)state;
    jwtauth_options o = base;
    o.jwks_json = JWKS;
    err_t e;
    jwtauth *a = jwtauth_new(&o, &e);
    if (!a) fail_msg("%s", e.text);
    assert_int_equal(check(a, token(JWT_ALG_RS256, RSA_PEM, "rsa-1", CLAIMS("")), NULL), JWTAUTH_OK);
    assert_int_equal(check(a, token(JWT_ALG_ES256, EC_PEM, "ec-1", CLAIMS("")), NULL), JWTAUTH_OK);
    assert_int_equal(check(a, token(JWT_ALG_RS256, RSA_PEM, "rsa-2", CLAIMS("")), NULL),
                     JWTAUTH_UNKNOWN_KEY);
    assert_int_equal(check(a, token(JWT_ALG_RS256, RSA_PEM, NULL, CLAIMS("")), NULL),
                     JWTAUTH_UNKNOWN_KEY);
    assert_int_equal(check(a, token(JWT_ALG_RS256, RSA_PEM, "ec-1", CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    assert_int_equal(check(a, token(JWT_ALG_ES256, EC_PEM, "rsa-1", CLAIMS("")), NULL),
                     JWTAUTH_UNSUPPORTED_ALGORITHM);
    jwtauth_free(a);
    /* One key: a token without kid takes it. */
    o.jwks_json = "{\"keys\":[" JWK_EC "]}";
    a = jwtauth_new(&o, &e);
    assert_non_null(a);
    assert_int_equal(check(a, token(JWT_ALG_ES256, EC_PEM, NULL, CLAIMS("")), NULL), JWTAUTH_OK);
    jwtauth_free(a);
}

static void garbage_is_malformed(void **state) {
    (void)state;
    jwtauth *a = verifier_hs();
    const char *bad[] = {"abc", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.", "bnVsbA.e30.x",
                         "eyJhbGciOjF9.e30.x", "eyJhbGciOiJIUzI1NiIsImtpZCI6MX0.e30.x", "...",
                         ".e30.x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jwtauth_principal p;
        const char *desc;
        int nomem;
        jwtauth_reason r = jwtauth_verify(a, bad[i], strlen(bad[i]), NOW, &p, &desc, &nomem);
        if (r != JWTAUTH_MALFORMED) fail_msg("%s: %s", bad[i], jwtauth_reason_name(r));
        assert_int_equal(nomem, 0);
    }
    /* A valid header, a payload libjwt cannot read: the signature check refuses it. */
    jwtauth_principal p;
    const char *t = "eyJhbGciOiJIUzI1NiJ9.!!.x";
    assert_int_equal(jwtauth_verify(a, t, strlen(t), NOW, &p, NULL, NULL), JWTAUTH_BAD_SIGNATURE);
    assert_int_equal(jwtauth_verify(a, NULL, 0, NOW, &p, NULL, NULL), JWTAUTH_MISSING);
    static char huge[JWTAUTH_TOKEN_MAX + 2];
    memset(huge, 'a', sizeof huge - 1);
    huge[10] = huge[20] = '.';
    assert_int_equal(jwtauth_verify(a, huge, strlen(huge), NOW, &p, NULL, NULL), JWTAUTH_MALFORMED);
    char nul[] = "eyJhbGciOiJIUzI1NiJ9.e30.x";
    nul[3] = '\0';
    assert_int_equal(jwtauth_verify(a, nul, sizeof nul - 1, NOW, &p, NULL, NULL), JWTAUTH_MALFORMED);
    jwtauth_free(a);
}

static void bearer_header(void **state) {
    (void)state;
    const char *t;
    size_t n;
    assert_int_equal(jwtauth_bearer("Bearer abc.def.ghi", &t, &n), JWTAUTH_OK);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "abc.def.ghi", 11);
    assert_int_equal(jwtauth_bearer("bearer   x  ", &t, &n), JWTAUTH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(jwtauth_bearer(NULL, &t, &n), JWTAUTH_MISSING);
    assert_int_equal(jwtauth_bearer("", &t, &n), JWTAUTH_MISSING);
    assert_int_equal(jwtauth_bearer("Basic YTpi", &t, &n), JWTAUTH_MISSING);
    assert_int_equal(jwtauth_bearer("Bearerx y", &t, &n), JWTAUTH_MISSING);
    assert_int_equal(jwtauth_bearer("Bearer", &t, &n), JWTAUTH_MALFORMED);
    assert_int_equal(jwtauth_bearer("Bearer   ", &t, &n), JWTAUTH_MALFORMED);
    assert_null(t);
}

static void nested_roles_claim(void **state) {
    (void)state;
    jwtauth_options o = base;
    o.hs_secret = SECRET;
    o.hs_secret_len = strlen(SECRET);
    o.roles_claim = "realm_access.roles";
    o.admin_role = "ops";
    jwtauth *a = jwtauth_new(&o, NULL);
    assert_non_null(a);
    jwtauth_principal p;
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL,
                                    CLAIMS(",\"realm_access\":{\"roles\":[\"ops\"]}")),
                           &p),
                     JWTAUTH_OK);
    assert_true(p.admin);
    assert_int_equal(check(a, token(JWT_ALG_HS256, SECRET, NULL,
                                    CLAIMS(",\"roles\":[\"ops\"],\"realm_access\":7")),
                           &p),
                     JWTAUTH_OK);
    assert_false(p.admin);
    jwtauth_free(a);
    o.roles_claim = "a..b";
    err_t e;
    assert_null(jwtauth_new(&o, &e));
    assert_non_null(strstr(e.text, "JWT_ROLES_CLAIM"));
}

/* jwtauth_new's refusal for o: its one line holds want, and never the secret. */
static void refused(const jwtauth_options *o, const char *want) {
    err_t e;
    jwtauth *a = jwtauth_new(o, &e);
    if (a) fail_msg("accepted, wanted '%s'", want);
    if (!strstr(e.text, want)) fail_msg("'%s' does not say '%s'", e.text, want);
    assert_null(strstr(e.text, "0123456789abcdef"));
}

static void configuration_errors(void **state) {
    (void)state;
    jwtauth_options o = base;
    refused(&o, "needs a key");
    o.hs_secret = SECRET;
    o.hs_secret_len = strlen(SECRET);
    o.public_key_pem = RSA_PUB;
    refused(&o, "not several");
    o.public_key_pem = NULL;
    o.hs_secret_len = 31;
    refused(&o, "at least 32 bytes");
    o.hs_secret = NULL;
    o.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    refused(&o, "JWT_PUBLIC_KEY_FILE");
    o.public_key_pem = RSA_PEM; /* a private key is not what the gateway gets */
    refused(&o, "JWT_PUBLIC_KEY_FILE");
    o.public_key_pem = RSA1024_PUB;
    refused(&o, "2048 bits");
    o.public_key_pem = NULL;
    const char *jwks[][2] = {
        {"not json", "not JSON"},
        {"{}", "\"keys\""},
        {"{\"keys\":[]}", "\"keys\""},
        {"{\"keys\":[1]}", "keys[0] is not an object"},
        {"{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"AAAA\"}]}", "kty"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AAAA\"}]}", "kid"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"e\":\"AQAB\",\"n\":\"!!\"}]}", "keys[0].n"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"e\":\"AQAB\",\"n\":\"AQAB\"}]}", "keys[0]"},
        {"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":\"P-384\"," JWK_EC_XY "}]}", "P-256"},
        {"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}",
         "keys[0]"},
        {"{\"keys\":[" JWK_EC "," JWK_EC "]}", "repeats kid"},
        {"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"alg\":\"RS256\",\"crv\":\"P-256\"," JWK_EC_XY
         "}]}",
         "alg"},
        {"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"use\":\"enc\",\"crv\":\"P-256\"," JWK_EC_XY
         "}]}",
         "use"},
    };
    for (size_t i = 0; i < sizeof jwks / sizeof jwks[0]; i++) {
        o.jwks_json = jwks[i][0];
        refused(&o, jwks[i][1]);
    }
}

static void every_allocation_failure_is_reported(void **state) {
    (void)state;
    jwtauth_options o = base;
    o.jwks_json = JWKS;
    size_t n;
    for (n = 1;; n++) {
        err_t e;
        failalloc_arm(n);
        jwtauth *a = jwtauth_new(&o, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_non_null(a);
            jwtauth_free(a);
            break;
        }
        if (a) fail_msg("allocation %zu failed unnoticed", n);
        assert_true(err_is_nomem(&e));
    }
    assert_true(n > 3);
    jwtauth *a = jwtauth_new(&o, NULL);
    assert_non_null(a);
    char *t = token(JWT_ALG_ES256, EC_PEM, "ec-1", CLAIMS(",\"nbf\":1800000030,\"roles\":[\"r\"]"));
    for (n = 1;; n++) {
        jwtauth_principal p;
        int nomem = 0;
        failalloc_arm(n);
        jwtauth_reason r = jwtauth_verify(a, t, strlen(t), NOW, &p, NULL, &nomem);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(r, JWTAUTH_OK);
            break;
        }
        if (r == JWTAUTH_OK || !nomem)
            fail_msg("allocation %zu: %s, nomem %d", n, jwtauth_reason_name(r), nomem);
    }
    assert_true(n > 3);
    free(t);
    jwtauth_free(a);
}

static void reason_names(void **state) {
    (void)state;
    assert_string_equal(jwtauth_reason_name(JWTAUTH_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(jwtauth_reason_name(JWTAUTH_UNKNOWN_KEY), "unknown_key");
    assert_string_equal(jwtauth_reason_name(JWTAUTH_REASONS), "unknown");
    for (int r = 0; r < JWTAUTH_REASONS; r++) assert_non_null(jwtauth_reason_name(r));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hs256_accepted_with_principal_and_roles),
        cmocka_unit_test(time_claims_with_skew),
        cmocka_unit_test(issuer_audience_subject),
        cmocka_unit_test(signatures_and_algorithms),
        cmocka_unit_test(jwks_keys_by_kid),
        cmocka_unit_test(garbage_is_malformed),
        cmocka_unit_test(bearer_header),
        cmocka_unit_test(nested_roles_claim),
        cmocka_unit_test(configuration_errors),
        cmocka_unit_test(every_allocation_failure_is_reported),
        cmocka_unit_test(reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
