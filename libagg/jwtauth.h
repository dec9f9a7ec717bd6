/* jwtauth: verifies bearer JWTs (HS256, RS256, ES256) against keys loaded once, and reads the principal. */
#ifndef AGG_JWTAUTH_H
#define AGG_JWTAUTH_H

#include <stddef.h>

#include "err.h"
#include "fanoutmsg.h"

/* Why a token was refused; JWTAUTH_OK when it was not. The names (jwtauth_reason_name) are the
 * label values of gateway_auth_failures_total{reason}. */
typedef enum jwtauth_reason {
    JWTAUTH_OK = 0,
    JWTAUTH_MISSING,               /* no token */
    JWTAUTH_MALFORMED,             /* not three base64url parts, bad header, sub or exp absent */
    JWTAUTH_BAD_SIGNATURE,         /* the signature does not verify (or libjwt refused it) */
    JWTAUTH_EXPIRED,               /* exp + skew has passed */
    JWTAUTH_NOT_YET_VALID,         /* nbf - skew is still ahead */
    JWTAUTH_WRONG_ISSUER,          /* iss is not JWT_ISSUER */
    JWTAUTH_WRONG_AUDIENCE,        /* aud does not hold JWT_AUDIENCE */
    JWTAUTH_UNSUPPORTED_ALGORITHM, /* alg is not the one its key is for (none, HS256 on an RSA key) */
    JWTAUTH_UNKNOWN_KEY,           /* no key with the token's kid */
    JWTAUTH_REASONS                /* the count, not a reason */
} jwtauth_reason;

/* The reason's wire name ("bad_signature", ...; "ok" for JWTAUTH_OK). Static. */
const char *jwtauth_reason_name(jwtauth_reason r);

#define JWTAUTH_TOKEN_MAX 8192 /* longer tokens are malformed */
#define JWTAUTH_MAX_KEYS 16    /* keys of a JWKS */
#define JWTAUTH_SECRET_MIN 32  /* bytes of an HS256 secret (RFC 7518 3.2: the hash's size) */

/* Exactly one of hs_secret, public_key_pem, jwks_json. Everything is borrowed for the call of
 * jwtauth_new; the verifier keeps its own copies. */
typedef struct jwtauth_options {
    const char *hs_secret; /* JWT_SECRET: HS256 */
    size_t hs_secret_len;
    const char *public_key_pem; /* JWT_PUBLIC_KEY_FILE's contents: an RSA or P-256 public key */
    const char *jwks_json;      /* JWT_JWKS_FILE's contents: {"keys":[RSA n/e, EC P-256 x/y]} */
    const char *issuer;         /* JWT_ISSUER: NULL or "" = iss not checked */
    const char *audience;       /* JWT_AUDIENCE: NULL or "" = aud not checked */
    long skew_s;                /* JWT_CLOCK_SKEW_S */
    const char *roles_claim;    /* JWT_ROLES_CLAIM: a claim name, dots walk into objects */
    const char *admin_role;     /* JWT_ADMIN_ROLE */
} jwtauth_options;

typedef struct jwtauth jwtauth;

/* A verifier with its keys parsed once into OpenSSL keys (a PEM with PEM_read_bio_PUBKEY, a
 * JWKS's RSA and EC keys with EVP_PKEY_fromdata), each pinned to one algorithm: HS256 for the secret, RS256 for
 * an RSA key, ES256 for a P-256 key. NULL with e filled (one line, naming the variable and never
 * quoting a secret) when no key or more than one source is given, the secret is shorter than
 * JWTAUTH_SECRET_MIN, a PEM or JWKS cannot be used, or out of memory. Free with jwtauth_free. */
jwtauth *jwtauth_new(const jwtauth_options *o, err_t *e);
/* Frees a (may be NULL), wiping the secret. */
void jwtauth_free(jwtauth *a);

typedef struct jwtauth_principal {
    char sub[FANOUTMSG_PRINCIPAL_MAX + 1]; /* the token's sub: a valid principal */
    int admin;                             /* the roles claim holds the admin role */
} jwtauth_principal;

/* The token of an Authorization header value "Bearer <token>" (scheme case-insensitive): *tok
 * points into header (borrowed), *len its length. JWTAUTH_MISSING for NULL, "" or another
 * scheme, JWTAUTH_MALFORMED for "Bearer" without a token. */
jwtauth_reason jwtauth_bearer(const char *header, const char **tok, size_t *len);

/* Verifies token (len bytes, borrowed for the call) at now_s (epoch seconds): the header's alg
 * and kid choose the key, libjwt checks the signature, then exp (required), nbf, iss, aud and
 * sub (required, a valid principal) are checked. JWTAUTH_OK with *p filled; else the reason,
 * with *desc (may be NULL) a static one-line description fit for an RFC 6750 error_description
 * (no quote, never the token). Out of memory is not the token's fault: then JWTAUTH_MALFORMED
 * comes back with *nomem (may be NULL) set to 1 (else 0) and the caller answers 503; *p is
 * filled only on JWTAUTH_OK. a is only read: one verifier serves every request. */
jwtauth_reason jwtauth_verify(const jwtauth *a, const char *token, size_t len, long long now_s,
                              jwtauth_principal *p, const char **desc, int *nomem);

#endif
