/* cbmsg: validates a resource callback and normalises it for the agg.callbacks topic. */
#include "cbmsg.h"

#include "jbody.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define BAD(e, field, ...) apierr_set((e), 400, "invalid_field", (field), __VA_ARGS__)
#define MISSING(e, field)  apierr_set((e), 400, "missing_field", (field), "%s is required", (field))

static const char *const NOTE_FIELDS[] = {"id",        "date",     "caregiverId",
                                          "patientId", "doctorId", "note"};
#define N_NOTE_FIELDS (sizeof NOTE_FIELDS / sizeof NOTE_FIELDS[0])

/* Reads n digits at *p into *v; advances *p. 1 when all were digits. */
static int digits(const char **p, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return 0;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 1;
}

/* YYYY-MM-DD[THH:MM[:SS[.frac]][Z|+HH[:]MM|-HH[:]MM]] with sane field ranges. */
static int date_ok(const char *s) {
    int y, mo, d, h, mi, sec, oh, om;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return 0;
    if (*s == '\0') return 1;
    if (*s++ != 'T' || !digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi)) return 0;
    if (h > 23 || mi > 59) return 0;
    if (*s == ':') {
        s++;
        if (!digits(&s, 2, &sec) || sec > 60) return 0;
        if (*s == '.') {
            s++;
            if (*s < '0' || *s > '9') return 0;
            while (*s >= '0' && *s <= '9') s++;
        }
    }
    if (*s == 'Z') return s[1] == '\0';
    if (*s == '+' || *s == '-') {
        s++;
        if (!digits(&s, 2, &oh)) return 0;
        if (*s == ':') s++;
        if (!digits(&s, 2, &om) || oh > 23 || om > 59) return 0;
    }
    return *s == '\0';
}

/* Sets *out to the string member key (no NUL inside, length within [min, max]);
 * on error fills e naming field. */
static int get_string(json_t *o, const char *key, size_t min, size_t max, json_t **out,
                      api_error *e, const char *field) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) return MISSING(e, field);
    if (!json_is_string(v)) return BAD(e, field, "%s must be a string", key);
    size_t n = json_string_length(v);
    if (n < min || n > max || strlen(json_string_value(v)) != n)
        return BAD(e, field, "%s must be %zu..%zu characters", key, min, max);
    *out = v;
    return AGG_OK;
}

/* Validates note i and appends its normalised copy to notes. */
static int add_note(json_t *notes, json_t *in, size_t i, api_error *e) {
    if (!json_is_object(in)) return BAD(e, "notes", "notes[%zu] must be an object", i);
    json_t *note = json_object();
    if (!note) return apierr_set(e, 500, "internal_error", NULL, "out of memory");
    for (size_t f = 0; f < N_NOTE_FIELDS; f++) {
        json_t *v = json_object_get(in, NOTE_FIELDS[f]);
        if (!v) {
            json_decref(note);
            return apierr_set(e, 400, "missing_field", "notes", "notes[%zu].%s is required", i,
                              NOTE_FIELDS[f]);
        }
        const char *s = json_string_value(v);
        if (!s || strlen(s) != json_string_length(v)) {
            json_decref(note);
            return BAD(e, "notes", "notes[%zu].%s must be a string", i, NOTE_FIELDS[f]);
        }
        if (f == 0 && s[0] == '\0') {
            json_decref(note);
            return BAD(e, "notes", "notes[%zu].id must not be empty", i);
        }
        if (f == 1 && !date_ok(s)) {
            json_decref(note);
            return BAD(e, "notes", "notes[%zu].date must be an ISO-8601 date", i);
        }
        if (json_object_set(note, NOTE_FIELDS[f], v) != 0) {
            json_decref(note);
            return apierr_set(e, 500, "internal_error", NULL, "out of memory");
        }
    }
    if (json_array_append_new(notes, note) != 0)
        return apierr_set(e, 500, "internal_error", NULL, "out of memory");
    return AGG_OK;
}

static int build(json_t *root, callback_msg *m, json_t *out, api_error *e) {
    json_t *source, *patient, *cid, *status;
    if (get_string(root, "source", 1, RESLIST_NAME_MAX, &source, e, "source") != AGG_OK ||
        get_string(root, "patientId", 1, REQ_PATIENT_ID_MAX, &patient, e, "patientId") != AGG_OK ||
        get_string(root, "correlationId", REQMSG_CID_LEN, REQMSG_CID_LEN, &cid, e,
                   "correlationId") != AGG_OK)
        return AGG_ERR;
    if (!reqmsg_is_uuid(json_string_value(cid)))
        return BAD(e, "correlationId", "correlationId must be a lowercase UUID");
    json_t *delay = json_object_get(root, "delayMs");
    if (delay && !json_is_integer(delay)) return BAD(e, "delayMs", "delayMs must be an integer");
    if (get_string(root, "status", 1, 32, &status, e, "status") != AGG_OK) return AGG_ERR;
    if (outcome_from_name(json_string_value(status), &m->status) != AGG_OK)
        return BAD(e, "status", "status must be ok, REJECTED, TIMEOUT, CONNECTION_CLOSED or ERROR");
    json_t *in_notes = json_object_get(root, "notes");
    if (!in_notes || json_is_null(in_notes)) {
        if (m->status == OUTCOME_OK)
            return apierr_set(e, 400, "missing_field", "notes",
                              "notes is required when status is ok");
    } else if (!json_is_array(in_notes)) {
        return BAD(e, "notes", "notes must be an array");
    } else if (json_array_size(in_notes) > CBMSG_MAX_NOTES) {
        return BAD(e, "notes", "at most %d notes", CBMSG_MAX_NOTES);
    }
    json_t *notes = json_array();
    if (!notes) return apierr_set(e, 500, "internal_error", NULL, "out of memory");
    if (json_object_set(out, "source", source) != 0 ||
        json_object_set(out, "patientId", patient) != 0 ||
        json_object_set(out, "correlationId", cid) != 0 ||
        (delay && json_object_set(out, "delayMs", delay) != 0) ||
        json_object_set(out, "status", status) != 0 ||
        json_object_set_new(out, "notes", notes) != 0)
        return apierr_set(e, 500, "internal_error", NULL, "out of memory");
    if (in_notes && json_is_array(in_notes)) {
        size_t i;
        json_t *n;
        json_array_foreach(in_notes, i, n) {
            if (add_note(notes, n, i, e) != AGG_OK) return AGG_ERR;
        }
    }
    memcpy(m->correlation_id, json_string_value(cid), REQMSG_CID_LEN + 1);
    memcpy(m->source, json_string_value(source), json_string_length(source) + 1);
    return AGG_OK;
}

int cbmsg_parse(const char *body, size_t len, callback_msg *m, api_error *e) {
    memset(m, 0, sizeof *m);
    json_t *root = jbody_object(body, len, e);
    if (!root) return AGG_ERR;
    json_t *out = json_object();
    int rc = AGG_ERR;
    if (!out) {
        apierr_set(e, 500, "internal_error", NULL, "out of memory");
    } else if (build(root, m, out, e) == AGG_OK) {
        m->json = json_dumps(out, JSON_COMPACT);
        if (m->json)
            rc = AGG_OK;
        else
            apierr_set(e, 500, "internal_error", NULL, "out of memory");
    }
    json_decref(out);
    json_decref(root);
    if (rc != AGG_OK) memset(m, 0, sizeof *m);
    return rc;
}

char *cbmsg_event_json(const callback_msg *m, long long elapsed_ms) {
    if (!m || !m->json) return NULL;
    json_t *o = json_loads(m->json, 0, NULL);
    if (!o) return NULL;
    char *out = NULL;
    if (json_object_set_new(o, "elapsedMs", json_integer(elapsed_ms < 0 ? 0 : elapsed_ms)) == 0)
        out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

void cbmsg_clear(callback_msg *m) {
    if (!m) return;
    free(m->json);
    m->json = NULL;
}
