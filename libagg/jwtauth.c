/* jwtauth: bearer JWT verification: libjwt (decoding, HS256), OpenSSL EVP (RS256/ES256 on keys parsed once), claims checked here. */
#include "jwtauth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "jbody.h"

#define KID_MAX 128
#define HEADER_MAX 1024 /* base64url characters of the header part */

typedef struct jwtauth_key {
    char kid[KID_MAX + 1]; /* "" = the one key of a secret or PEM file: any kid matches */
    jwt_alg_t alg;         /* the only algorithm this key verifies */
    unsigned char *bytes;  /* HS256: the secret (libjwt verifies the HMAC) */
    size_t len;
    /* RS256, ES256: the public key, parsed once. libjwt 1.10 takes a public key only as PEM
     * text and parses it on every verify (0.7 ms for an RSA key here, more than the verify);
     * EVP_DigestVerify on this key is the same OpenSSL check without the parse. */
    EVP_PKEY *pkey;
} jwtauth_key;

struct jwtauth {
    jwtauth_key keys[JWTAUTH_MAX_KEYS];
    int n_keys;
    int by_kid; /* a JWKS: keys are chosen by kid */
    char *issuer, *audience, *admin_role;
    char *roles_path[8]; /* the roles claim split at '.' */
    int roles_depth;
    long skew_s;
};

static const char *const reason_names[JWTAUTH_REASONS] = {
    [JWTAUTH_OK] = "ok",
    [JWTAUTH_MISSING] = "missing",
    [JWTAUTH_MALFORMED] = "malformed",
    [JWTAUTH_BAD_SIGNATURE] = "bad_signature",
    [JWTAUTH_EXPIRED] = "expired",
    [JWTAUTH_NOT_YET_VALID] = "not_yet_valid",
    [JWTAUTH_WRONG_ISSUER] = "wrong_issuer",
    [JWTAUTH_WRONG_AUDIENCE] = "wrong_audience",
    [JWTAUTH_UNSUPPORTED_ALGORITHM] = "unsupported_algorithm",
    [JWTAUTH_UNKNOWN_KEY] = "unknown_key",
};

const char *jwtauth_reason_name(jwtauth_reason r) {
    return r >= JWTAUTH_OK && r < JWTAUTH_REASONS ? reason_names[r] : "unknown";
}

/* --- base64url (RFC 4648 section 5, no padding), through OpenSSL's decoder --- */

/* Decodes n base64url characters into out (room for cap bytes); AGG_ERR when they are not
 * base64url or do not fit. */
static int b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen) {
    char std[2048];
    size_t padded = (n + 3) / 4 * 4;
    if (n % 4 == 1 || padded >= sizeof std || padded / 4 * 3 > cap) return AGG_ERR;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return AGG_ERR;
        std[i] = c;
    }
    for (size_t i = n; i < padded; i++) std[i] = '=';
    std[padded] = '\0';
    int got = EVP_DecodeBlock(out, (const unsigned char *)std, (int)padded);
    if (got < 0) return AGG_ERR;
    *outlen = (size_t)got - (padded - n); /* EVP_DecodeBlock counts the padding as zero bytes */
    return AGG_OK;
}

/* --- keys --- */

/* k takes a reference to pkey, pinned to the algorithm of its type. */
static int key_from_pkey(EVP_PKEY *pkey, jwtauth_key *k, const char *what, err_t *e) {
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < 2048)
            return err_set(e, "%s: an RSA key must have at least 2048 bits", what);
        k->alg = JWT_ALG_RS256;
    } else if (id == EVP_PKEY_EC) {
        char curve[32];
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve,
                                            NULL) ||
            strcmp(curve, "prime256v1") != 0)
            return err_set(e, "%s: an EC key must be on P-256 (ES256)", what);
        k->alg = JWT_ALG_ES256;
    } else {
        return err_set(e, "%s: not an RSA or EC public key", what);
    }
    if (!EVP_PKEY_up_ref(pkey)) return err_nomem(e);
    k->pkey = pkey;
    return AGG_OK;
}

static int key_from_pem(const char *pem, jwtauth_key *k, err_t *e) {
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b) return err_nomem(e);
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!pkey)
        return err_set(e, "JWT_PUBLIC_KEY_FILE: not a PEM public key (BEGIN PUBLIC KEY)");
    int rc = key_from_pkey(pkey, k, "JWT_PUBLIC_KEY_FILE", e);
    EVP_PKEY_free(pkey);
    return rc;
}

/* The base64url member name of jwk as a big-endian number pushed as param (OSSL_PARAM_BLD keeps
 * the BIGNUM until it is built: the caller frees *bn after). */
static int jwk_bn(json_t *jwk, const char *name, BIGNUM **bn, int i, err_t *e) {
    const char *s = json_string_value(json_object_get(jwk, name));
    unsigned char buf[1024];
    size_t n;
    if (!s || b64url_decode(s, strlen(s), buf, sizeof buf, &n) != AGG_OK || n == 0)
        return err_set(e, "JWT_JWKS_FILE: keys[%d].%s is not a base64url number", i, name);
    if (!(*bn = BN_bin2bn(buf, (int)n, NULL))) return err_nomem(e);
    return AGG_OK;
}

static int key_from_jwk(json_t *jwk, int i, jwtauth_key *k, err_t *e) {
    char what[48];
    snprintf(what, sizeof what, "JWT_JWKS_FILE: keys[%d]", i);
    if (!json_is_object(jwk)) return err_set(e, "%s is not an object", what);
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    if (!kid || !*kid || strlen(kid) > KID_MAX)
        return err_set(e, "%s: kid must be a string of 1..%d characters", what, KID_MAX);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    if (use && strcmp(use, "sig") != 0) return err_set(e, "%s: use is not \"sig\"", what);
    int rsa = kty && strcmp(kty, "RSA") == 0, ec = kty && strcmp(kty, "EC") == 0;
    if (!rsa && !ec) return err_set(e, "%s: kty must be RSA or EC", what);
    if (ec) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0) return err_set(e, "%s: crv must be P-256", what);
    }
    if (alg && strcmp(alg, rsa ? "RS256" : "ES256") != 0)
        return err_set(e, "%s: alg %.16s is not %s", what, alg, rsa ? "RS256" : "ES256");
    BIGNUM *a = NULL, *b = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = AGG_ERR;
    unsigned char point[65];
    if (jwk_bn(jwk, rsa ? "n" : "x", &a, i, e) != AGG_OK ||
        jwk_bn(jwk, rsa ? "e" : "y", &b, i, e) != AGG_OK)
        goto done;
    if (!(bld = OSSL_PARAM_BLD_new())) goto nomem;
    if (rsa) {
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, a) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, b))
            goto nomem;
    } else {
        /* The uncompressed point 04 || x || y, each coordinate 32 bytes. */
        point[0] = 4;
        if (BN_num_bytes(a) > 32 || BN_num_bytes(b) > 32 || BN_bn2binpad(a, point + 1, 32) < 0 ||
            BN_bn2binpad(b, point + 33, 32) < 0) {
            err_set(e, "%s: x and y must be 32-byte coordinates", what);
            goto done;
        }
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
            goto nomem;
    }
    if (!(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL)))
        goto nomem;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0 || !pkey) {
        err_set(e, "%s: OpenSSL refuses the key (%s)", what, rsa ? "n, e" : "not a point of P-256");
        goto done;
    }
    if (ec) {
        /* fromdata takes any point; a public key off the curve must not be used. */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!ok) {
            err_set(e, "%s: x, y is not a point of P-256", what);
            goto done;
        }
    }
    rc = key_from_pkey(pkey, k, what, e);
    goto done;
nomem:
    err_nomem(e);
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(a);
    BN_free(b);
    return rc;
}

static int keys_from_jwks(jwtauth *a, const char *jwks, err_t *e) {
    int nomem;
    json_error_t jerr;
    json_t *root = jbody_loadb(jwks, strlen(jwks), &nomem, &jerr);
    if (!root) {
        if (nomem) return err_nomem(e);
        return err_set(e, "JWT_JWKS_FILE: not JSON (line %d: %.80s)", jerr.line, jerr.text);
    }
    json_t *keys = json_object_get(root, "keys");
    int rc = AGG_OK;
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > JWTAUTH_MAX_KEYS) {
        rc = err_set(e, "JWT_JWKS_FILE: \"keys\" must be an array of 1..%d keys", JWTAUTH_MAX_KEYS);
    } else {
        size_t i;
        json_t *jwk;
        json_array_foreach(keys, i, jwk) {
            if ((rc = key_from_jwk(jwk, (int)i, &a->keys[i], e)) != AGG_OK) break;
            a->n_keys = (int)i + 1;
            for (size_t j = 0; j < i; j++)
                if (strcmp(a->keys[j].kid, a->keys[i].kid) == 0) {
                    rc = err_set(e, "JWT_JWKS_FILE: keys[%zu] repeats kid %.64s", i,
                                 a->keys[i].kid);
                    break;
                }
            if (rc != AGG_OK) break;
        }
    }
    json_decref(root);
    a->by_kid = 1;
    return rc;
}

static int dup_opt(const char *s, char **out, err_t *e) {
    *out = NULL;
    if (!s || !*s) return AGG_OK;
    if (!(*out = agg_strdup(s))) return err_nomem(e);
    return AGG_OK;
}

static int split_roles(jwtauth *a, const char *claim, err_t *e) {
    const char *p = claim && *claim ? claim : "roles";
    while (1) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || a->roles_depth == (int)(sizeof a->roles_path / sizeof a->roles_path[0]))
            return err_set(e, "JWT_ROLES_CLAIM: at most 8 non-empty names separated by '.'");
        if (!(a->roles_path[a->roles_depth] = agg_strndup(p, n))) return err_nomem(e);
        a->roles_depth++;
        if (!dot) return AGG_OK;
        p = dot + 1;
    }
}

jwtauth *jwtauth_new(const jwtauth_options *o, err_t *e) {
    int sources = (o->hs_secret != NULL) + (o->public_key_pem != NULL) + (o->jwks_json != NULL);
    if (sources != 1) {
        err_set(e, sources ? "AUTH_MODE=jwt: set one of JWT_SECRET, JWT_PUBLIC_KEY_FILE and "
                             "JWT_JWKS_FILE, not several"
                           : "AUTH_MODE=jwt needs a key: JWT_SECRET (or JWT_SECRET_FILE), "
                             "JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE");
        return NULL;
    }
    jwtauth *a = agg_calloc(1, sizeof *a);
    if (!a) {
        err_nomem(e);
        return NULL;
    }
    a->skew_s = o->skew_s;
    int rc;
    if (o->hs_secret) {
        if (o->hs_secret_len < JWTAUTH_SECRET_MIN) {
            rc = err_set(e, "JWT_SECRET must be at least %d bytes (HS256)", JWTAUTH_SECRET_MIN);
        } else if (!(a->keys[0].bytes = agg_malloc(o->hs_secret_len))) {
            rc = err_nomem(e);
        } else {
            memcpy(a->keys[0].bytes, o->hs_secret, o->hs_secret_len);
            a->keys[0].len = o->hs_secret_len;
            a->keys[0].alg = JWT_ALG_HS256;
            a->n_keys = 1;
            rc = AGG_OK;
        }
    } else if (o->public_key_pem) {
        rc = key_from_pem(o->public_key_pem, &a->keys[0], e);
        if (rc == AGG_OK) a->n_keys = 1;
    } else {
        rc = keys_from_jwks(a, o->jwks_json, e);
    }
    if (rc == AGG_OK && (dup_opt(o->issuer, &a->issuer, e) != AGG_OK ||
                         dup_opt(o->audience, &a->audience, e) != AGG_OK ||
                         dup_opt(o->admin_role && *o->admin_role ? o->admin_role
                                                                 : "aggregator-admin",
                                 &a->admin_role, e) != AGG_OK ||
                         split_roles(a, o->roles_claim, e) != AGG_OK))
        rc = AGG_ERR;
    if (rc != AGG_OK) {
        jwtauth_free(a);
        return NULL;
    }
    return a;
}

void jwtauth_free(jwtauth *a) {
    if (!a) return;
    for (int i = 0; i < JWTAUTH_MAX_KEYS; i++) {
        if (a->keys[i].bytes) OPENSSL_cleanse(a->keys[i].bytes, a->keys[i].len);
        agg_free(a->keys[i].bytes);
        EVP_PKEY_free(a->keys[i].pkey);
    }
    for (int i = 0; i < a->roles_depth; i++) agg_free(a->roles_path[i]);
    agg_free(a->issuer);
    agg_free(a->audience);
    agg_free(a->admin_role);
    agg_free(a);
}

/* --- per request --- */

jwtauth_reason jwtauth_bearer(const char *header, const char **tok, size_t *len) {
    *tok = NULL;
    *len = 0;
    if (!header || strncasecmp(header, "Bearer", 6) != 0) return JWTAUTH_MISSING;
    const char *p = header + 6;
    if (*p && *p != ' ') return JWTAUTH_MISSING; /* "Bearerx": another scheme */
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == ' ') n--;
    if (n == 0) return JWTAUTH_MALFORMED;
    *tok = p;
    *len = n;
    return JWTAUTH_OK;
}

typedef struct verdict {
    jwtauth_reason reason;
    const char *desc;
    int nomem;
} verdict;

static jwtauth_reason refuse(verdict *v, jwtauth_reason r, const char *desc) {
    v->reason = r;
    v->desc = desc;
    return r;
}

/* The header's alg and kid choose the key: AGG_OK with *key set, else the refusal in v. */
static jwtauth_reason choose_key(const jwtauth *a, const char *tok, size_t hlen,
                                 const jwtauth_key **key, verdict *v) {
    unsigned char buf[HEADER_MAX];
    size_t n;
    if (hlen == 0 || hlen > HEADER_MAX || b64url_decode(tok, hlen, buf, sizeof buf, &n) != AGG_OK)
        return refuse(v, JWTAUTH_MALFORMED, "the token header is not base64url");
    int nomem;
    json_error_t jerr;
    json_t *h = jbody_loadb((const char *)buf, n, &nomem, &jerr);
    if (!h) {
        v->nomem = nomem;
        return refuse(v, JWTAUTH_MALFORMED, "the token header is not JSON");
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *kidv = json_object_get(h, "kid");
    const char *kid = json_string_value(kidv);
    jwtauth_reason r = JWTAUTH_OK;
    jwt_alg_t want = JWT_ALG_INVAL;
    if (!json_is_object(h) || !alg) {
        r = refuse(v, JWTAUTH_MALFORMED, "the token header has no alg");
    } else if (strcmp(alg, "HS256") == 0) {
        want = JWT_ALG_HS256;
    } else if (strcmp(alg, "RS256") == 0) {
        want = JWT_ALG_RS256;
    } else if (strcmp(alg, "ES256") == 0) {
        want = JWT_ALG_ES256;
    } else {
        r = refuse(v, JWTAUTH_UNSUPPORTED_ALGORITHM, "alg must be HS256, RS256 or ES256");
    }
    if (r == JWTAUTH_OK && kidv && !kid)
        r = refuse(v, JWTAUTH_MALFORMED, "kid is not a string");
    *key = NULL;
    if (r == JWTAUTH_OK) {
        if (!a->by_kid) {
            *key = &a->keys[0];
        } else if (kid) {
            for (int i = 0; i < a->n_keys; i++)
                if (strcmp(a->keys[i].kid, kid) == 0) *key = &a->keys[i];
        } else if (a->n_keys == 1) {
            *key = &a->keys[0];
        }
        if (!*key)
            r = refuse(v, JWTAUTH_UNKNOWN_KEY, "no key with the token's kid");
        else if ((*key)->alg != want)
            /* The algorithm is the key's, never the token's choice: an RSA public key used as
             * an HS256 secret would let anyone sign. */
            r = refuse(v, JWTAUTH_UNSUPPORTED_ALGORITHM, "alg is not the algorithm of its key");
    }
    json_decref(h);
    return r;
}

/* RS256/ES256: the signature (sig, n base64url characters) over the signing input (tok, len:
 * header.payload) with key's EVP_PKEY. 1 valid, 0 not, -1 out of memory. */
static int verify_pkey(const jwtauth_key *key, const char *tok, size_t len, const char *sig,
                       size_t n) {
    unsigned char raw[512], der[80];
    size_t raw_len;
    const unsigned char *s = raw;
    size_t s_len;
    if (b64url_decode(sig, n, raw, sizeof raw, &raw_len) != AGG_OK) return 0;
    s_len = raw_len;
    if (key->alg == JWT_ALG_ES256) {
        /* JWS signs with r || s (RFC 7518 3.4); OpenSSL verifies the DER of ECDSA-Sig-Value. */
        if (raw_len != 64) return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(raw, 32, NULL), *ss = BN_bin2bn(raw + 32, 32, NULL);
        if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(ss);
            return -1;
        }
        unsigned char *p = der;
        int dl = i2d_ECDSA_SIG(es, NULL);
        if (dl <= 0 || (size_t)dl > sizeof der) {
            ECDSA_SIG_free(es);
            return dl <= 0 ? -1 : 0;
        }
        dl = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        s = der;
        s_len = (size_t)dl;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return -1;
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
             EVP_DigestVerify(ctx, s, s_len, (const unsigned char *)tok, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* A NumericDate member (RFC 7519 2): AGG_OK with *t, or AGG_ERR when it is not a number. */
static int numeric_date(json_t *v, double *t) {
    if (json_is_integer(v)) {
        *t = (double)json_integer_value(v);
        return AGG_OK;
    }
    if (json_is_real(v)) {
        *t = json_real_value(v);
        return AGG_OK;
    }
    return AGG_ERR;
}

static int has_string(json_t *v, const char *want) {
    if (json_is_string(v)) return strcmp(json_string_value(v), want) == 0;
    size_t i;
    json_t *x;
    if (json_is_array(v)) json_array_foreach(v, i, x) {
            if (json_is_string(x) && strcmp(json_string_value(x), want) == 0) return 1;
        }
    return 0;
}

static jwtauth_reason check_claims(const jwtauth *a, json_t *c, long long now_s,
                                   jwtauth_principal *p, verdict *v) {
    double exp, nbf;
    json_t *nbfv = json_object_get(c, "nbf");
    if (!json_is_object(c)) return refuse(v, JWTAUTH_MALFORMED, "the claims are not an object");
    if (numeric_date(json_object_get(c, "exp"), &exp) != AGG_OK)
        return refuse(v, JWTAUTH_MALFORMED, "exp is required (a number)");
    if ((double)now_s > exp + (double)a->skew_s)
        return refuse(v, JWTAUTH_EXPIRED, "the token has expired");
    if (nbfv) {
        if (numeric_date(nbfv, &nbf) != AGG_OK)
            return refuse(v, JWTAUTH_MALFORMED, "nbf is not a number");
        if ((double)now_s + (double)a->skew_s < nbf)
            return refuse(v, JWTAUTH_NOT_YET_VALID, "the token is not valid yet");
    }
    if (a->issuer) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, a->issuer) != 0)
            return refuse(v, JWTAUTH_WRONG_ISSUER, "the token is from another issuer");
    }
    if (a->audience && !has_string(json_object_get(c, "aud"), a->audience))
        return refuse(v, JWTAUTH_WRONG_AUDIENCE, "the token is for another audience");
    json_t *subv = json_object_get(c, "sub");
    const char *sub = json_string_value(subv);
    if (!sub || !fanoutmsg_principal_ok(sub, json_string_length(subv)))
        return refuse(v, JWTAUTH_MALFORMED,
                      "sub is required: 1..255 printable ASCII characters");
    json_t *roles = c;
    for (int i = 0; i < a->roles_depth && roles; i++)
        roles = json_object_get(roles, a->roles_path[i]);
    memcpy(p->sub, sub, json_string_length(subv) + 1);
    p->admin = json_is_array(roles) && has_string(roles, a->admin_role);
    return JWTAUTH_OK;
}

jwtauth_reason jwtauth_verify(const jwtauth *a, const char *token, size_t len, long long now_s,
                              jwtauth_principal *p, const char **desc, int *nomem) {
    verdict v = {JWTAUTH_OK, NULL, 0};
    char *tok = NULL;
    jwt_t *jwt = NULL;
    char *claims = NULL;
    json_t *c = NULL;
    const jwtauth_key *key = NULL;
    const char *dot1, *dot2;
    if (!token || len == 0) {
        refuse(&v, JWTAUTH_MISSING, "no bearer token");
    } else if (len > JWTAUTH_TOKEN_MAX || memchr(token, '\0', len) ||
               !(dot1 = memchr(token, '.', len)) ||
               !(dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ||
               memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        refuse(&v, JWTAUTH_MALFORMED, "a token is three base64url parts separated by dots");
    } else if (choose_key(a, token, (size_t)(dot1 - token), &key, &v) != JWTAUTH_OK) {
        /* refused */
    } else if (!(tok = agg_strndup(token, len))) {
        v.nomem = 1;
        refuse(&v, JWTAUTH_MALFORMED, "out of memory");
    } else {
        unsigned long failed = agg_alloc_failures();
        int sig_ok = 1, rc = 0;
        if (key->pkey) {
            /* Checked here on the parsed key; libjwt then only decodes (no key: no check). */
            size_t signed_len = (size_t)(dot2 - token);
            sig_ok = verify_pkey(key, token, signed_len, dot2 + 1, len - signed_len - 1);
            if (sig_ok == 1) rc = jwt_decode(&jwt, tok, NULL, 0);
        } else {
            rc = jwt_decode(&jwt, tok, key->bytes, (int)key->len);
        }
        if (sig_ok < 0 || rc == ENOMEM || (sig_ok == 1 && rc == 0 && !jwt) ||
            (rc != 0 && agg_alloc_failures() != failed)) {
            v.nomem = 1;
            refuse(&v, JWTAUTH_MALFORMED, "out of memory");
        } else if (sig_ok == 0 || rc != 0 || (!key->pkey && jwt_get_alg(jwt) != key->alg)) {
            refuse(&v, JWTAUTH_BAD_SIGNATURE, "the signature does not verify");
        } else if (!(claims = jwt_get_grants_json(jwt, NULL))) {
            v.nomem = 1;
            refuse(&v, JWTAUTH_MALFORMED, "out of memory");
        } else {
            int jnomem;
            json_error_t jerr;
            c = jbody_loadb(claims, strlen(claims), &jnomem, &jerr);
            /* jansson's writer drops what it could not allocate and goes on: a claim lost
             * that way (nbf) must not let a token through. */
            if (!c || agg_alloc_failures() != failed) {
                v.nomem = 1;
                refuse(&v, JWTAUTH_MALFORMED, "out of memory");
            } else {
                jwtauth_principal got;
                if (check_claims(a, c, now_s, &got, &v) == JWTAUTH_OK) *p = got;
            }
        }
    }
    json_decref(c);
    agg_free(claims); /* json_dumps inside libjwt: jansson's allocator, which is agg_malloc */
    jwt_free(jwt);
    agg_free(tok);
    if (desc) *desc = v.desc;
    if (nomem) *nomem = v.nomem;
    return v.reason;
}
