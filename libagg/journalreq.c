/* journalreq: parses and validates the POST /aggregate/journals body into a journal_request. */
#include "journalreq.h"

#include "jbody.h"

#include <jansson.h>
#include <string.h>

#include "err.h"

#define BAD(e, field, ...) apierr_set((e), 400, "invalid_field", (field), __VA_ARGS__)

static int is_patient_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

static int parse_patient(json_t *root, journal_request *out, api_error *e) {
    json_t *v = json_object_get(root, "patientId");
    if (!v || json_is_null(v))
        return apierr_set(e, 400, "missing_field", "patientId", "patientId is required");
    if (!json_is_string(v)) return BAD(e, "patientId", "patientId must be a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n < 1 || n > JOURNALREQ_PATIENT_ID_MAX)
        return BAD(e, "patientId", "patientId must be 1..%d characters", JOURNALREQ_PATIENT_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!is_patient_char(s[i]))
            return BAD(e, "patientId", "patientId may only use [A-Za-z0-9._:-]");
    }
    memcpy(out->patient_id, s, n);
    out->patient_id[n] = '\0';
    return AGG_OK;
}

static int add_delay(journal_request *out, long v, const journalreq_limits *lim, api_error *e) {
    if (v < JOURNALREQ_DELAY_MIN || v > JOURNALREQ_DELAY_MAX_MS)
        return BAD(e, "delays", "each delay must be in [%d, %d]", JOURNALREQ_DELAY_MIN,
                   JOURNALREQ_DELAY_MAX_MS);
    if (out->n_delays >= lim->n_resources || out->n_delays >= RESLIST_MAX)
        return BAD(e, "delays", "more delays than resources (%d)", lim->n_resources);
    out->delays[out->n_delays++] = v;
    return AGG_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Parses one entry of the delays string (s, n bytes, surrounding blanks allowed). */
static int parse_delay_entry(const char *s, size_t n, long *v) {
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1])) n--;
    int neg = 0;
    if (n > 0 && *s == '-') {
        neg = 1;
        s++;
        n--;
    }
    if (n == 0 || n > 9) return AGG_ERR; /* 9 digits are far above the maximum delay */
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return AGG_ERR;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return AGG_OK;
}

static int parse_delays(json_t *root, const journalreq_limits *lim, journal_request *out,
                        api_error *e) {
    json_t *v = json_object_get(root, "delays");
    if (!v || json_is_null(v)) return AGG_OK;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (len == 0) return AGG_OK;
        size_t start = 0;
        for (size_t i = 0; i <= len; i++) {
            if (i < len && s[i] != ',') continue;
            long d;
            if (parse_delay_entry(s + start, i - start, &d) != AGG_OK)
                return BAD(e, "delays",
                           "delays must be comma-separated integers, e.g. \"1000,2000,-1\"");
            if (add_delay(out, d, lim, e) != AGG_OK) return AGG_ERR;
            start = i + 1;
        }
        return AGG_OK;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            long long d;
            if (!jbody_integer(item, &d))
                return BAD(e, "delays", "delays must be an array of integers");
            if (d < JOURNALREQ_DELAY_MIN || d > JOURNALREQ_DELAY_MAX_MS)
                return BAD(e, "delays", "each delay must be in [%d, %d]", JOURNALREQ_DELAY_MIN,
                           JOURNALREQ_DELAY_MAX_MS);
            if (add_delay(out, (long)d, lim, e) != AGG_OK) return AGG_ERR;
        }
        return AGG_OK;
    }
    return BAD(e, "delays", "delays must be a string or an array of integers");
}

static int parse_timeout(json_t *root, const journalreq_limits *lim, journal_request *out,
                         api_error *e) {
    json_t *v = json_object_get(root, "timeoutMs");
    if (!v || json_is_null(v)) {
        out->timeout_ms = lim->timeout_default_ms;
    } else {
        long long t;
        if (!jbody_integer(v, &t)) return BAD(e, "timeoutMs", "timeoutMs must be an integer");
        if (t <= 0) return BAD(e, "timeoutMs", "timeoutMs must be positive");
        out->timeout_ms = t > (long long)lim->timeout_max_ms ? lim->timeout_max_ms : (long)t;
    }
    if (out->timeout_ms > lim->timeout_max_ms) out->timeout_ms = lim->timeout_max_ms;
    return AGG_OK;
}

static int parse_strategy(json_t *root, journal_request *out, api_error *e) {
    json_t *v = json_object_get(root, "strategy");
    out->strategy = STRATEGY_SSE;
    if (!v || json_is_null(v)) return AGG_OK;
    const char *s = json_string_value(v);
    if (s && json_string_length(v) == strlen(s)) {
        if (strcmp(s, "SSE") == 0) return AGG_OK;
        if (strcmp(s, "WAIT_FOR_EVERYONE") == 0) {
            out->strategy = STRATEGY_WAIT_FOR_EVERYONE;
            return AGG_OK;
        }
    }
    return BAD(e, "strategy", "strategy must be \"SSE\" or \"WAIT_FOR_EVERYONE\"");
}

int journalreq_parse(const char *body, size_t len, const journalreq_limits *lim,
                     journal_request *out, api_error *e) {
    memset(out, 0, sizeof *out);
    json_t *root = jbody_object(body, len, e);
    if (!root) return AGG_ERR;
    int rc = AGG_ERR;
    if (parse_patient(root, out, e) == AGG_OK && parse_delays(root, lim, out, e) == AGG_OK &&
        parse_timeout(root, lim, out, e) == AGG_OK && parse_strategy(root, out, e) == AGG_OK)
        rc = AGG_OK;
    json_decref(root);
    return rc;
}

const char *journalreq_strategy_name(strategy_t s) {
    return s == STRATEGY_WAIT_FOR_EVERYONE ? "WAIT_FOR_EVERYONE" : "SSE";
}
