/* fuzz_jwt: libFuzzer harness: an Authorization header value into jwtauth (bearer parsing and verification). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwtauth.h"

/* The JWKS (an RSA and a P-256 key) and the secret of the seed corpus: tokens signed with them
 * reach the claim checks, the rest the header and signature checks. */
#define SECRET "fuzz-only-hs256-secret-0123456789abcdef"
#define JWKS                                                                                       \
    "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\","                               \
    "\"x\":\"jj-BgSeGpqLUFMnOdzPmMPEHQEwmFUZ5CvXrI5PzZwo\","                                       \
    "\"y\":\"4f5bqmmIv1ERu6aTZIzOfmGy1pRGzSRKlp4EG74MoZ0\"}]}"

static jwtauth *hs, *jwks;

static void setup(void) {
    jwtauth_options o = {.issuer = "https://idp.test", .audience = "aggregator", .skew_s = 60};
    o.hs_secret = SECRET;
    o.hs_secret_len = strlen(SECRET);
    hs = jwtauth_new(&o, NULL);
    o.hs_secret = NULL;
    o.jwks_json = JWKS;
    o.roles_claim = "realm_access.roles";
    jwks = jwtauth_new(&o, NULL);
    if (!hs || !jwks) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!hs) setup();
    char *header = malloc(size + 1);
    if (!header) return 0;
    memcpy(header, data, size);
    header[size] = '\0'; /* a header value has no NUL: what follows one is not seen */
    const char *tok;
    size_t len;
    if (jwtauth_bearer(header, &tok, &len) == JWTAUTH_OK) {
        jwtauth_principal p;
        const char *desc;
        int nomem;
        /* A time inside the seeds' validity, so that their claims are checked to the end. */
        if (jwtauth_verify(hs, tok, len, 1800000000LL, &p, &desc, &nomem) == JWTAUTH_OK &&
            (p.sub[0] == '\0' || strlen(p.sub) > FANOUTMSG_PRINCIPAL_MAX))
            abort();
        jwtauth_verify(jwks, tok, len, 1800000000LL, &p, &desc, &nomem);
    }
    free(header);
    return 0;
}
