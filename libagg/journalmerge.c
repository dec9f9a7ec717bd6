/* journalmerge: builds the WAIT_FOR_EVERYONE response body from a finished session's log. */
#include "journalmerge.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "isodate.h"
#include "jbody.h"

/* One note with its sort key. */
typedef struct note_ref {
    json_t *note;       /* borrowed from the parsed event */
    const char *source; /* the outcome event's source */
    const char *id;
    const char *date;
    int has_time; /* date parsed into when */
    isodate when;
    size_t order; /* position in the log, the last tie-breaker */
} note_ref;

static int cmp_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* Newest first; unparseable dates last (by string); then source, id, log order. */
static int cmp_notes(const void *pa, const void *pb) {
    const note_ref *a = pa, *b = pb;
    if (a->has_time != b->has_time) return a->has_time ? -1 : 1;
    if (a->has_time) {
        if (a->when.secs != b->when.secs) return a->when.secs > b->when.secs ? -1 : 1;
        if (a->when.nanos != b->when.nanos) return a->when.nanos > b->when.nanos ? -1 : 1;
    } else {
        int c = cmp_str(b->date, a->date);
        if (c) return c;
    }
    int c = cmp_str(a->source, b->source);
    if (c) return c;
    c = cmp_str(a->id, b->id);
    if (c) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

typedef struct merge_state {
    json_t **parsed; /* one per event, owned */
    size_t n_parsed;
    note_ref *notes;
    size_t n_notes, cap_notes;
    json_t *sources; /* array of {source,status,elapsedMs[,reason]} */
    json_t *summary; /* borrowed from parsed */
} merge_state;

static int push_note(merge_state *st, json_t *note, const char *source, err_t *e) {
    if (st->n_notes == st->cap_notes) {
        size_t cap = st->cap_notes ? st->cap_notes * 2 : 16;
        note_ref *nn = agg_realloc(st->notes, cap * sizeof *nn);
        if (!nn) return err_nomem(e);
        st->notes = nn;
        st->cap_notes = cap;
    }
    note_ref *r = &st->notes[st->n_notes];
    memset(r, 0, sizeof *r);
    r->note = note;
    r->source = source;
    r->id = json_string_value(json_object_get(note, "id"));
    r->date = json_string_value(json_object_get(note, "date"));
    r->order = st->n_notes++;
    r->has_time = isodate_parse(r->date, &r->when) == AGG_OK;
    return AGG_OK;
}

/* Adds the outcome event ev (log entry i) to the sources and its notes to the notes. */
static int add_outcome(merge_state *st, json_t *ev, size_t i, err_t *e) {
    json_t *source = json_object_get(ev, "source");
    json_t *status = json_object_get(ev, "status");
    if (!json_is_string(source) || !json_is_string(status))
        return err_set(e, "log entry %zu: the outcome event has no source or status", i);
    json_t *el = json_object_get(ev, "elapsedMs");
    json_int_t elapsed = json_is_integer(el) ? json_integer_value(el) : 0;
    json_t *s = json_pack("{s:O, s:O, s:I}", "source", source, "status", status, "elapsedMs",
                          elapsed < 0 ? (json_int_t)0 : elapsed);
    if (!s || json_array_append_new(st->sources, s) != 0) return err_nomem(e);
    json_t *reason = json_object_get(ev, "reason"); /* e.g. "circuit open" */
    if (json_is_string(reason) && json_object_set(s, "reason", reason) != 0) return err_nomem(e);
    json_t *notes = json_object_get(ev, "notes");
    if (!notes || json_is_null(notes)) return AGG_OK;
    if (!json_is_array(notes)) return err_set(e, "log entry %zu: notes is not an array", i);
    size_t k;
    json_t *note;
    json_array_foreach(notes, k, note) {
        if (!json_is_object(note))
            return err_set(e, "log entry %zu: notes[%zu] is not an object", i, k);
        if (push_note(st, note, json_string_value(source), e) != AGG_OK) return AGG_ERR;
    }
    return AGG_OK;
}

static int finish(merge_state *st, const char *patient_id, char **out, err_t *e) {
    json_t *sum = st->summary;
    json_t *cid = json_object_get(sum, "correlationId");
    json_t *resp = json_object_get(sum, "respondents");
    json_t *errs = json_object_get(sum, "errors");
    json_t *by = json_object_get(sum, "completedBy");
    if (!json_is_string(cid) || !json_is_integer(resp) || !json_is_integer(errs) ||
        !json_is_string(by))
        return err_set(e, "the summary lacks correlationId, respondents, errors or completedBy");
    if (st->n_notes > 1) qsort(st->notes, st->n_notes, sizeof *st->notes, cmp_notes);
    json_t *notes = json_array();
    if (!notes) return err_nomem(e);
    for (size_t i = 0; i < st->n_notes; i++) {
        if (json_array_append(notes, st->notes[i].note) != 0) {
            json_decref(notes);
            return err_nomem(e);
        }
    }
    json_t *o = json_pack("{s:O, s:s, s:O, s:O, s:O, s:o, s:O}", "correlationId", cid, "patientId",
                          patient_id, "respondents", resp, "errors", errs, "completedBy", by,
                          "notes", notes, "sources", st->sources);
    if (!o) return err_nomem(e);
    *out = jbody_dumps(o, e);
    json_decref(o);
    return *out ? AGG_OK : AGG_ERR;
}

/* Reads every entry of the log into st; AGG_ERR with e filled at the first bad one. */
static int read_log(merge_state *st, const log_event *events, size_t n, err_t *e) {
    for (size_t i = 0; i < n; i++) {
        if (!events[i].data || !events[i].event)
            return err_set(e, "log entry %zu has no event or no data", i);
        json_error_t jerr;
        int nomem;
        json_t *ev = jbody_loadb(events[i].data, strlen(events[i].data), &nomem, &jerr);
        if (nomem) return err_nomem(e);
        if (!ev) return err_set(e, "log entry %zu is not valid JSON: %s", i, jerr.text);
        st->parsed[st->n_parsed++] = ev;
        if (!json_is_object(ev)) return err_set(e, "log entry %zu is not a JSON object", i);
        if (strcmp(events[i].event, "summary") == 0) {
            st->summary = ev;
        } else if (strcmp(events[i].event, "callback") == 0) {
            if (add_outcome(st, ev, i, e) != AGG_OK) return AGG_ERR;
        }
    }
    return AGG_OK;
}

int journalmerge_build(const char *patient_id, const log_event *events, size_t n, char **out,
                       err_t *e) {
    *out = NULL;
    if (!patient_id || (!events && n > 0)) return err_set(e, "no patient id or no log");
    merge_state st;
    memset(&st, 0, sizeof st);
    int rc = AGG_ERR;
    st.sources = json_array();
    st.parsed = agg_calloc(n ? n : 1, sizeof *st.parsed);
    if (!st.sources || !st.parsed)
        err_nomem(e);
    else if (read_log(&st, events, n, e) == AGG_OK)
        rc = st.summary ? finish(&st, patient_id, out, e) : err_set(e, "the log has no summary");
    for (size_t i = 0; i < st.n_parsed; i++) json_decref(st.parsed[i]);
    agg_free(st.parsed);
    agg_free(st.notes);
    json_decref(st.sources);
    return rc;
}
