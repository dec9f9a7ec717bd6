/* fanoutmsg: builds, serialises and validates the fan-out message of the agg.requests topic. */
#include "fanoutmsg.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jbody.h"
#include "uuid4.h"

size_t fanoutmsg_size(int n) {
    return sizeof(fanout_msg) + (size_t)(n > 0 ? n : 0) * sizeof(fanoutmsg_resource);
}

/* A zeroed message with room for n resources; NULL with e filled. */
static fanout_msg *msg_new(int n, err_t *e) {
    fanout_msg *m = agg_calloc(1, fanoutmsg_size(n));
    if (!m) err_nomem(e);
    return m;
}

void fanoutmsg_free(fanout_msg *m) { agg_free(m); }

int fanoutmsg_principal_ok(const char *s, size_t n) {
    if (!s || n < 1 || n > FANOUTMSG_PRINCIPAL_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

fanout_msg *fanoutmsg_from_request(const journal_request *r, const resource_list *res,
                                   const char *cid, long long created_ms, const char *callback_url,
                                   const char *principal, err_t *e) {
    if (!principal) principal = FANOUTMSG_ANONYMOUS;
    if (!fanoutmsg_principal_ok(principal, strlen(principal))) {
        err_set(e, "principal must be 1..%d printable ASCII characters", FANOUTMSG_PRINCIPAL_MAX);
        return NULL;
    }
    int n = res ? res->n : 0;
    if (n > RESLIST_MAX) n = RESLIST_MAX;
    fanout_msg *m = msg_new(n, e);
    if (!m) return NULL;
    snprintf(m->correlation_id, sizeof m->correlation_id, "%s", cid ? cid : "");
    snprintf(m->patient_id, sizeof m->patient_id, "%s", r->patient_id);
    m->strategy = r->strategy;
    m->timeout_ms = r->timeout_ms;
    m->created_ms = created_ms;
    m->deadline_ms = created_ms + r->timeout_ms;
    snprintf(m->callback_url, sizeof m->callback_url, "%s", callback_url ? callback_url : "");
    snprintf(m->principal, sizeof m->principal, "%s", principal);
    for (int i = 0; i < n; i++) {
        memcpy(m->resources[i].source, res->items[i].source, sizeof m->resources[i].source);
        memcpy(m->resources[i].url, res->items[i].url, sizeof m->resources[i].url);
        m->resources[i].delay_ms = i < r->n_delays ? r->delays[i] : 0;
    }
    m->n_resources = n;
    return m;
}

/* Dumps o compactly and drops the reference; NULL with e filled on out of memory. */
static char *dump(json_t *o, err_t *e) {
    char *out = jbody_dumps(o, e);
    json_decref(o);
    return out;
}

char *fanoutmsg_to_json(const fanout_msg *m, err_t *e) {
    json_t *arr = json_array();
    if (!arr) return dump(NULL, e);
    for (int i = 0; i < m->n_resources; i++) {
        json_t *r = json_pack("{s:s, s:s, s:I}", "source", m->resources[i].source, "url",
                              m->resources[i].url, "delayMs", (json_int_t)m->resources[i].delay_ms);
        if (!r || json_array_append_new(arr, r) != 0) {
            json_decref(arr);
            return dump(NULL, e);
        }
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:o}", "correlationId", m->correlation_id,
        "patientId", m->patient_id, "strategy", journalreq_strategy_name(m->strategy), "timeoutMs",
        (json_int_t)m->timeout_ms, "createdMs", (json_int_t)m->created_ms, "deadlineMs",
        (json_int_t)m->deadline_ms, "callbackUrl", m->callback_url, "principal", m->principal,
        "resources", arr);
    return dump(o, e);
}

char *fanoutmsg_sources_json(const fanout_msg *m, err_t *e) {
    json_t *arr = json_array();
    if (!arr) return dump(NULL, e);
    for (int i = 0; i < m->n_resources; i++) {
        if (json_array_append_new(arr, json_string(m->resources[i].source)) != 0) {
            json_decref(arr);
            return dump(NULL, e);
        }
    }
    return dump(arr, e);
}

/* The schema's "^https?://[^/\s]+" plus a length limit. */
static int url_ok(const char *s, size_t n, size_t max) {
    size_t p;
    if (n > max || strlen(s) != n) return 0;
    if (strncmp(s, "http://", 7) == 0) {
        p = 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        p = 8;
    } else {
        return 0;
    }
    char c = s[p];
    return c != '\0' && c != '/' && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' &&
           c != '\v';
}

/* Copies the string member key (1..max bytes, no NUL inside) into dst. */
static int get_str(json_t *o, const char *key, char *dst, size_t max, err_t *e) {
    json_t *v = json_object_get(o, key);
    if (!v) return err_set(e, "%s is missing", key);
    if (!json_is_string(v)) return err_set(e, "%s must be a string", key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n < 1 || n > max || strlen(s) != n)
        return err_set(e, "%s must be 1..%zu characters", key, max);
    memcpy(dst, s, n);
    dst[n] = '\0';
    return AGG_OK;
}

static int get_int(json_t *o, const char *key, long long min, long long max, long long *out,
                   err_t *e) {
    json_t *v = json_object_get(o, key);
    if (!v) return err_set(e, "%s is missing", key);
    if (!json_is_integer(v)) return err_set(e, "%s must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) return err_set(e, "%s out of range [%lld, %lld]", key, min, max);
    *out = x;
    return AGG_OK;
}

/* AGG_ERR when o has a key not in the NULL-terminated list. */
static int only_keys(json_t *o, const char *const *keys, const char *what, err_t *e) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int known = 0;
        for (const char *const *p = keys; *p; p++) {
            if (strcmp(k, *p) == 0) known = 1;
        }
        if (!known) return err_set(e, "%s: unknown field '%.64s'", what, k);
    }
    return AGG_OK;
}

static int parse_resource(json_t *o, int i, fanoutmsg_resource *r, err_t *e) {
    static const char *const keys[] = {"source", "url", "delayMs", NULL};
    if (!json_is_object(o)) return err_set(e, "resources[%d] must be an object", i);
    if (only_keys(o, keys, "resource", e) != AGG_OK) return AGG_ERR;
    long long d = 0;
    if (get_str(o, "source", r->source, RESLIST_NAME_MAX, e) != AGG_OK ||
        get_str(o, "url", r->url, RESLIST_URL_MAX, e) != AGG_OK ||
        get_int(o, "delayMs", JOURNALREQ_DELAY_MIN, JOURNALREQ_DELAY_MAX_MS, &d, e) != AGG_OK)
        return AGG_ERR;
    if (!url_ok(r->url, strlen(r->url), RESLIST_URL_MAX))
        return err_set(e, "resources[%d].url is not an http(s) URL", i);
    r->delay_ms = (long)d;
    return AGG_OK;
}

static int parse_object(json_t *root, fanout_msg *m, err_t *e) {
    static const char *const keys[] = {"correlationId", "patientId", "strategy",
                                       "timeoutMs",     "createdMs", "deadlineMs",
                                       "callbackUrl",   "principal", "resources",
                                       NULL};
    if (only_keys(root, keys, "fan-out message", e) != AGG_OK) return AGG_ERR;
    if (get_str(root, "correlationId", m->correlation_id, UUID4_LEN, e) != AGG_OK) return AGG_ERR;
    if (!uuid4_valid(m->correlation_id)) return err_set(e, "correlationId is not a lowercase UUID");
    if (get_str(root, "patientId", m->patient_id, JOURNALREQ_PATIENT_ID_MAX, e) != AGG_OK)
        return AGG_ERR;
    for (const char *p = m->patient_id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return err_set(e, "patientId has a character outside [A-Za-z0-9._:-]");
    }
    char strategy[32];
    if (get_str(root, "strategy", strategy, sizeof strategy - 1, e) != AGG_OK) return AGG_ERR;
    if (strcmp(strategy, "SSE") == 0)
        m->strategy = STRATEGY_SSE;
    else if (strcmp(strategy, "WAIT_FOR_EVERYONE") == 0)
        m->strategy = STRATEGY_WAIT_FOR_EVERYONE;
    else
        return err_set(e, "strategy must be SSE or WAIT_FOR_EVERYONE");
    long long t = 0;
    if (get_int(root, "timeoutMs", 1, LONG_MAX, &t, e) != AGG_OK) return AGG_ERR;
    m->timeout_ms = (long)t;
    if (get_int(root, "createdMs", 0, LLONG_MAX, &m->created_ms, e) != AGG_OK ||
        get_int(root, "deadlineMs", 0, LLONG_MAX, &m->deadline_ms, e) != AGG_OK)
        return AGG_ERR;
    if (get_str(root, "callbackUrl", m->callback_url, FANOUTMSG_URL_MAX, e) != AGG_OK)
        return AGG_ERR;
    if (!url_ok(m->callback_url, strlen(m->callback_url), FANOUTMSG_URL_MAX))
        return err_set(e, "callbackUrl is not an http(s) URL");
    if (get_str(root, "principal", m->principal, FANOUTMSG_PRINCIPAL_MAX, e) != AGG_OK)
        return AGG_ERR;
    if (!fanoutmsg_principal_ok(m->principal, strlen(m->principal)))
        return err_set(e, "principal has a character outside printable ASCII");
    json_t *res = json_object_get(root, "resources");
    if (!res) return err_set(e, "resources is missing");
    if (!json_is_array(res)) return err_set(e, "resources must be an array");
    if (json_array_size(res) > RESLIST_MAX)
        return err_set(e, "resources has more than %d entries", RESLIST_MAX);
    size_t i;
    json_t *item;
    json_array_foreach(res, i, item) {
        if (parse_resource(item, (int)i, &m->resources[i], e) != AGG_OK) return AGG_ERR;
    }
    m->n_resources = (int)json_array_size(res);
    return AGG_OK;
}

/* The number of resources root lists when that is a valid count, else 0
 * (parse_object then reports what is wrong, in its order of checks). */
static int resources_listed(json_t *root) {
    json_t *res = json_object_get(root, "resources");
    size_t n = json_is_array(res) ? json_array_size(res) : 0;
    return n <= RESLIST_MAX ? (int)n : 0;
}

fanout_msg *fanoutmsg_parse(const char *json, size_t len, err_t *e) {
    if (!json) {
        err_set(e, "fan-out message is empty");
        return NULL;
    }
    json_error_t jerr;
    int nomem;
    json_t *root = jbody_loadb(json, len, &nomem, &jerr);
    if (!root) {
        if (nomem)
            err_nomem(e);
        else
            err_set(e, "fan-out message is not valid JSON: %s", jerr.text);
        return NULL;
    }
    fanout_msg *m = NULL;
    if (!json_is_object(root)) {
        err_set(e, "fan-out message is not a JSON object");
    } else if ((m = msg_new(resources_listed(root), e)) != NULL &&
               parse_object(root, m, e) != AGG_OK) {
        fanoutmsg_free(m);
        m = NULL;
    }
    json_decref(root);
    return m;
}
