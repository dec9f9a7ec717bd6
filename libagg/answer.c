/* answer: validates a resource's answer and normalises it for the agg.callbacks topic. */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "isodate.h"
#include "jscan.h"

#define BAD(e, field, ...) apierr_set((e), 400, "invalid_field", (field), __VA_ARGS__)
#define MISSING(e, field)  apierr_set((e), 400, "missing_field", (field), "%s is required", (field))

static const char *const NOTE_FIELDS[] = {"id",        "date",     "caregiverId",
                                          "patientId", "doctorId", "note"};
#define N_NOTE_FIELDS (sizeof NOTE_FIELDS / sizeof NOTE_FIELDS[0])

/* Output buffer: the normalised JSON never outgrows the input plus the
 * ",\"notes\":[]" that a body without notes gains, so one allocation of
 * len + ANSWER_SLACK holds it; out() still checks, so a bug cannot overrun. */
#define ANSWER_SLACK 32

typedef struct obuf {
    char *b;
    size_t n, cap;
} obuf;

static int out(obuf *o, const char *s, size_t n) {
    if (o->n + n >= o->cap) return AGG_ERR;
    memcpy(o->b + o->n, s, n);
    o->n += n;
    return AGG_OK;
}

static int out_s(obuf *o, const char *s) { return out(o, s, strlen(s)); }

/* Member names of an answer, in the order of the normalised JSON. */
enum { F_SOURCE, F_PATIENT, F_CID, F_DELAY, F_STATUS, F_NOTES, N_FIELDS };
static const char *const FIELDS[N_FIELDS] = {"source",  "patientId", "correlationId",
                                             "delayMs", "status",    "notes"};

/* Collects the members of object o named in names[0..n) into vals (type
 * JSCAN_NULL with text NULL when absent). A repeated known name is invalid
 * JSON, as jansson's JSON_REJECT_DUPLICATES made it; unknown names are
 * skipped (they are dropped from the normalised JSON anyway). */
static int collect(const jscan_val *o, const char *const *names, size_t n, jscan_val *vals,
                   api_error *e, const char *where) {
    for (size_t i = 0; i < n; i++) memset(&vals[i], 0, sizeof vals[i]);
    jscan_iter it;
    jscan_val k, v;
    jscan_iter_init(&it, o);
    while (jscan_obj_next(&it, &k, &v)) {
        for (size_t i = 0; i < n; i++) {
            if (!jscan_str_eq(&k, names[i])) continue;
            if (vals[i].text)
                return apierr_set(e, 400, "invalid_json", NULL,
                                  "the body is not valid JSON: duplicate member \"%s\"%s", names[i],
                                  where);
            vals[i] = v;
            break;
        }
    }
    return AGG_OK;
}

/* Checks that v is a string of min..max bytes without U+0000 and copies it
 * decoded into dst (max + 1 bytes) when dst is not NULL. */
static int get_string(const jscan_val *v, size_t min, size_t max, char *dst, api_error *e,
                      const char *field) {
    if (!v->text) return MISSING(e, field);
    if (v->type != JSCAN_STRING) return BAD(e, field, "%s must be a string", field);
    if (v->str_len < min || v->str_len > max || v->str_has_nul)
        return BAD(e, field, "%s must be %zu..%zu characters", field, min, max);
    if (dst) jscan_str_decode(v, dst, max + 1);
    return AGG_OK;
}

/* Validates note i and appends its normalised copy to o. */
static int add_note(obuf *o, const jscan_val *in, size_t i, api_error *e) {
    if (in->type != JSCAN_OBJECT) return BAD(e, "notes", "notes[%zu] must be an object", i);
    jscan_val f[N_NOTE_FIELDS];
    char where[40];
    snprintf(where, sizeof where, " in notes[%zu]", i);
    if (collect(in, NOTE_FIELDS, N_NOTE_FIELDS, f, e, where) != AGG_OK) return AGG_ERR;
    if (out_s(o, i ? ",{" : "{") != AGG_OK) goto overflow;
    for (size_t k = 0; k < N_NOTE_FIELDS; k++) {
        const jscan_val *v = &f[k];
        if (!v->text)
            return apierr_set(e, 400, "missing_field", "notes", "notes[%zu].%s is required", i,
                              NOTE_FIELDS[k]);
        if (v->type != JSCAN_STRING || v->str_has_nul)
            return BAD(e, "notes", "notes[%zu].%s must be a string", i, NOTE_FIELDS[k]);
        if (k == 0 && v->str_len == 0) return BAD(e, "notes", "notes[%zu].id must not be empty", i);
        if (k == 1) {
            char date[40];
            isodate when;
            if (v->str_len >= sizeof date ||
                (jscan_str_decode(v, date, sizeof date), isodate_parse(date, &when) != AGG_OK))
                return BAD(e, "notes", "notes[%zu].date must be an ISO-8601 date", i);
        }
        if (out_s(o, k ? ",\"" : "\"") != AGG_OK || out_s(o, NOTE_FIELDS[k]) != AGG_OK ||
            out(o, "\":", 2) != AGG_OK || out(o, v->text, v->len) != AGG_OK)
            goto overflow;
    }
    if (out(o, "}", 1) != AGG_OK) goto overflow;
    return AGG_OK;
overflow:
    return apierr_set(e, 500, "internal_error", NULL, "normalised answer outgrew its buffer");
}

/* Writes "name":<raw value> for the top-level field k. */
static int put_member(obuf *o, int k, const jscan_val *v) {
    return out_s(o, k == F_SOURCE ? "{\"" : ",\"") || out_s(o, FIELDS[k]) || out(o, "\":", 2) ||
                   out(o, v->text, v->len)
               ? AGG_ERR
               : AGG_OK;
}

static int build(const jscan_val *root, answer_msg *m, obuf *o, api_error *e) {
    jscan_val f[N_FIELDS];
    char cid[UUID4_LEN + 1], status[33];
    if (collect(root, FIELDS, N_FIELDS, f, e, "") != AGG_OK ||
        get_string(&f[F_SOURCE], 1, RESLIST_NAME_MAX, m->source, e, "source") != AGG_OK ||
        get_string(&f[F_PATIENT], 1, JOURNALREQ_PATIENT_ID_MAX, m->patient_id, e, "patientId") !=
            AGG_OK ||
        get_string(&f[F_CID], UUID4_LEN, UUID4_LEN, cid, e, "correlationId") != AGG_OK)
        return AGG_ERR;
    if (!uuid4_valid(cid)) return BAD(e, "correlationId", "correlationId must be a lowercase UUID");
    const jscan_val *delay = f[F_DELAY].text ? &f[F_DELAY] : NULL;
    if (delay && !(delay->type == JSCAN_NUMBER && delay->num_integer))
        return BAD(e, "delayMs", "delayMs must be an integer");
    if (get_string(&f[F_STATUS], 1, 32, status, e, "status") != AGG_OK) return AGG_ERR;
    if (outcome_from_name(status, &m->status, NULL) != AGG_OK)
        return BAD(e, "status", "status must be ok, REJECTED, TIMEOUT, CONNECTION_CLOSED or ERROR");
    const jscan_val *notes = &f[F_NOTES];
    if (!notes->text || notes->type == JSCAN_NULL) {
        if (m->status == OUTCOME_OK)
            return apierr_set(e, 400, "missing_field", "notes",
                              "notes is required when status is ok");
    } else if (notes->type != JSCAN_ARRAY) {
        return BAD(e, "notes", "notes must be an array");
    }
    for (int k = F_SOURCE; k <= F_STATUS; k++)
        if (f[k].text && put_member(o, k, &f[k]) != AGG_OK)
            return apierr_set(e, 500, "internal_error", NULL,
                              "normalised answer outgrew its buffer");
    if (out_s(o, ",\"notes\":[") != AGG_OK)
        return apierr_set(e, 500, "internal_error", NULL, "normalised answer outgrew its buffer");
    if (notes->type == JSCAN_ARRAY) {
        jscan_iter it;
        jscan_val n;
        size_t i = 0;
        jscan_iter_init(&it, notes);
        while (jscan_arr_next(&it, &n)) {
            if (i == ANSWER_MAX_NOTES) return BAD(e, "notes", "at most %d notes", ANSWER_MAX_NOTES);
            if (add_note(o, &n, i++, e) != AGG_OK) return AGG_ERR;
        }
    }
    if (out(o, "]}", 3) != AGG_OK) /* with the NUL */
        return apierr_set(e, 500, "internal_error", NULL, "normalised answer outgrew its buffer");
    memcpy(m->correlation_id, cid, sizeof cid);
    return AGG_OK;
}

int answer_parse(const char *body, size_t len, answer_msg *m, api_error *e) {
    memset(m, 0, sizeof *m);
    jscan_val root;
    err_t jerr;
    if (body == NULL || len == 0)
        return apierr_set(e, 400, "invalid_json", NULL, "the body is not valid JSON: empty body");
    if (jscan_document(body, len, &root, &jerr) != AGG_OK)
        return apierr_set(e, 400, "invalid_json", NULL, "the body is not valid JSON: %s",
                          jerr.text);
    if (root.type != JSCAN_OBJECT)
        return apierr_set(e, 400, "invalid_json", NULL, "the body must be a JSON object");
    obuf o = {agg_malloc(len + ANSWER_SLACK), 0, len + ANSWER_SLACK};
    if (!o.b) return apierr_nomem(e);
    if (build(&root, m, &o, e) != AGG_OK) {
        agg_free(o.b);
        memset(m, 0, sizeof *m);
        return AGG_ERR;
    }
    m->json = o.b;
    m->json_len = o.n - 1;
    return AGG_OK;
}

void answer_clear(answer_msg *m) {
    if (!m) return;
    agg_free(m->json);
    m->json = NULL;
    m->json_len = 0;
}
