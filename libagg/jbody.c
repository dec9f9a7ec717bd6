/* jbody: reading and writing JSON with jansson, out of memory told apart (and an HTTP body's object). */
#include "jbody.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "jscan.h"

int jbody_media_type(const char *content_type, api_error *e) {
    static const char want[] = "application/json";
    const char *p = content_type ? content_type : "";
    while (*p == ' ' || *p == '\t') p++;
    size_t n = sizeof want - 1;
    if (strncasecmp(p, want, n) == 0) {
        const char *q = p + n;
        while (*q == ' ' || *q == '\t') q++;
        if (*q == '\0' || *q == ';') return AGG_OK;
    }
    char shown[41];
    size_t k = 0;
    /* Only printable ASCII of the header goes back to the client. */
    for (; p[k] && k < sizeof shown - 1; k++) shown[k] = isprint((unsigned char)p[k]) ? p[k] : '?';
    shown[k] = '\0';
    if (!content_type)
        return apierr_set(e, 415, "unsupported_media_type", NULL,
                          "Content-Type must be application/json (none given)");
    return apierr_set(e, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json, got '%s'", shown);
}

static json_t *loadb(const char *buf, size_t len, size_t flags, int *nomem, json_error_t *jerr) {
    /* jscan first, for what jansson alone lets through: it takes a NUL byte for the end of the
     * text ("{...}\0anything" passed; found by tests/fuzz) and nests 2048 deep, where every
     * document of ours is a few levels deep. One allocation-free pass, cheap next to the tree. */
    jscan_val top;
    err_t se;
    if (!buf || jscan_document(buf, len, &top, &se) != AGG_OK) {
        *nomem = 0;
        memset(jerr, 0, sizeof *jerr);
        snprintf(jerr->text, sizeof jerr->text, "%s", buf ? se.text : "empty text");
        return NULL;
    }
    unsigned long failures = agg_alloc_failures();
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | flags, jerr);
    /* jansson's reader drops bytes of a token it cannot grow its buffer for and goes on: a
     * document read while an allocation failed may be wrong, so it is not used at all. */
    *nomem = agg_alloc_failures() != failures;
    if (*nomem) {
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *jbody_object(const char *body, size_t len, api_error *e) {
    json_error_t jerr;
    int nomem = 0;
    json_t *root = body ? loadb(body, len, 0, &nomem, &jerr) : NULL;
    /* jansson refuses an integer it cannot hold; read as reals, numbers have no such limit. */
    if (!root && !nomem && body && strstr(jerr.text, "too big"))
        root = loadb(body, len, JSON_DECODE_INT_AS_REAL, &nomem, &jerr);
    if (root && json_is_object(root)) return root;
    if (nomem) {
        apierr_nomem(e);
        return NULL;
    }
    if (root)
        apierr_set(e, 400, "invalid_json", NULL, "the body must be a JSON object");
    else
        apierr_set(e, 400, "invalid_json", NULL, "the body is not valid JSON: %s",
                   body ? jerr.text : "empty body");
    json_decref(root);
    return NULL;
}

json_t *jbody_loadb(const char *buf, size_t len, int *nomem, json_error_t *jerr) {
    return loadb(buf, len, 0, nomem, jerr);
}

int jbody_integer(const json_t *v, long long *out) {
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return 1;
    }
    if (!json_is_real(v)) return 0;
    double d = json_real_value(v);
    if (d != floor(d)) return 0; /* also NaN; jansson never reads an infinity */
    *out = d >= 9.2e18 ? LLONG_MAX : d <= -9.2e18 ? LLONG_MIN : (long long)d;
    return 1;
}

char *jbody_dumps(const json_t *json, err_t *e) {
    unsigned long failures = agg_alloc_failures();
    char *out = json ? json_dumps(json, JSON_COMPACT) : NULL;
    if (out && agg_alloc_failures() == failures) return out;
    agg_free(out);
    err_nomem(e);
    return NULL;
}
