/* rsreq: pure validation of the resource's request bodies (POST /journals and /journals/direct). */
#include "rsreq.h"

#include "jbody.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "uuid4.h"

int rsreq_url_valid(const char *s) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (n > RSREQ_URL_MAX) return 0;
    size_t skip;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f) return 0;
    }
    char h = s[skip];
    return h != '\0' && h != '/' && h != '?' && h != '#' && h != ':' && h != '@';
}

/* Number of UTF-8 code points in s (s is valid UTF-8, as jansson guarantees). */
static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) n++;
    return n;
}

/* Looks up a required string field; AGG_ERR with e filled when absent or not a string. */
static int get_string(json_t *o, const char *field, const char **out, api_error *e) {
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return apierr_set(e, 400, "missing_field", field, "%s is required", field);
    if (!json_is_string(v))
        return apierr_set(e, 400, "invalid_field", field, "%s must be a string", field);
    *out = json_string_value(v); /* no embedded NUL: json_loadb runs without JSON_ALLOW_NUL */
    return AGG_OK;
}

static int parse_object(json_t *o, int with_callback_url, rsreq *q, api_error *e) {
    const char *pid = NULL, *url = NULL, *cid = NULL;
    if (get_string(o, "patientId", &pid, e) != AGG_OK) return AGG_ERR;
    size_t plen = utf8_len(pid);
    if (plen < 1 || plen > RSREQ_PATIENT_MAX || strlen(pid) >= sizeof q->patient_id)
        return apierr_set(e, 400, "invalid_field", "patientId",
                          "patientId must be 1..%d characters", RSREQ_PATIENT_MAX);
    strcpy(q->patient_id, pid);

    json_t *d = json_object_get(o, "delay");
    if (!d || json_is_null(d))
        return apierr_set(e, 400, "missing_field", "delay", "delay is required");
    long min = with_callback_url ? RSREQ_DELAY_MIN : RSREQ_DIRECT_DELAY_MIN;
    long long delay;
    if (!jbody_integer(d, &delay) || delay < min || delay > RSREQ_DELAY_MAX)
        return apierr_set(e, 400, "invalid_field", "delay", "delay must be an integer in %ld..%d",
                          min, RSREQ_DELAY_MAX);
    q->delay = (long)delay;
    if (!with_callback_url) return AGG_OK;

    if (get_string(o, "callbackUrl", &url, e) != AGG_OK) return AGG_ERR;
    if (!rsreq_url_valid(url))
        return apierr_set(e, 400, "invalid_field", "callbackUrl",
                          "callbackUrl must be an http(s) URL with a host, at most %d bytes",
                          RSREQ_URL_MAX);
    strcpy(q->callback_url, url);

    if (get_string(o, "correlationId", &cid, e) != AGG_OK) return AGG_ERR;
    if (!uuid4_valid(cid))
        return apierr_set(e, 400, "invalid_field", "correlationId",
                          "correlationId must be a lowercase UUID");
    strcpy(q->correlation_id, cid);
    return AGG_OK;
}

int rsreq_parse(const char *body, size_t len, int with_callback_url, rsreq *q, api_error *e) {
    memset(q, 0, sizeof *q);
    json_t *o = jbody_object(body ? body : "", body ? len : 0, e);
    if (!o) return AGG_ERR;
    int rc = parse_object(o, with_callback_url, q, e);
    json_decref(o);
    if (rc != AGG_OK) memset(q, 0, sizeof *q);
    return rc;
}
