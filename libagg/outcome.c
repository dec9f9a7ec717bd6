/* outcome: outcome names, how outcomes count, HTTP result mapping, self-observed outcome events. */
#include "outcome.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "err.h"
#include "jbody.h"

static const char *const NAMES[] = {
    [OUTCOME_OK] = "ok",           [OUTCOME_REJECTED] = "REJECTED",
    [OUTCOME_TIMEOUT] = "TIMEOUT", [OUTCOME_CONNECTION_CLOSED] = "CONNECTION_CLOSED",
    [OUTCOME_ERROR] = "ERROR",     [OUTCOME_ACCEPTED] = "ACCEPTED",
};

const char *outcome_name(outcome_t o) {
    if ((int)o < 0 || (size_t)o >= sizeof NAMES / sizeof NAMES[0]) return "ERROR";
    return NAMES[o];
}

int outcome_from_name(const char *name, outcome_t *out, err_t *e) {
    if (!name) return err_set(e, "no outcome name");
    for (int o = OUTCOME_OK; o <= OUTCOME_ERROR; o++) {
        if (strcmp(name, NAMES[o]) == 0) {
            if (out) *out = (outcome_t)o;
            return AGG_OK;
        }
    }
    return err_set(e, "not an outcome name");
}

outcome_t outcome_classify(transport_t t, long http_status) {
    switch (t) {
    case TRANSPORT_OK:
        if (http_status >= 200 && http_status <= 299) return OUTCOME_ACCEPTED;
        if (http_status == 401) return OUTCOME_REJECTED;
        return OUTCOME_ERROR;
    case TRANSPORT_TIMEOUT: return OUTCOME_TIMEOUT;
    case TRANSPORT_CONNECT_FAILED:
    case TRANSPORT_CLOSED: return OUTCOME_CONNECTION_CLOSED;
    case TRANSPORT_OTHER:
    default: return OUTCOME_ERROR;
    }
}

int outcome_is_respondent(outcome_t o) { return o == OUTCOME_OK; }

int outcome_is_error(outcome_t o) {
    return o == OUTCOME_TIMEOUT || o == OUTCOME_CONNECTION_CLOSED || o == OUTCOME_ERROR;
}

char *outcome_event_json(const char *source, const char *patient_id, const char *correlation_id,
                         outcome_t o, long delay_ms, long long elapsed_ms, err_t *e) {
    return outcome_event_json_reason(source, patient_id, correlation_id, o, NULL, delay_ms,
                                     elapsed_ms, e);
}

char *outcome_event_json_reason(const char *source, const char *patient_id,
                                const char *correlation_id, outcome_t o, const char *reason,
                                long delay_ms, long long elapsed_ms, err_t *e) {
    if (!source || !patient_id || !correlation_id) {
        err_set(e, "an outcome event needs a source, a patient id and a correlation id");
        return NULL;
    }
    json_t *notes = json_array();
    if (!notes) {
        err_nomem(e);
        return NULL;
    }
    /* "o" steals the reference to notes, also when json_pack fails. */
    json_error_t jerr;
    json_t *ev = json_pack_ex(&jerr, 0, "{s:s, s:s, s:s, s:s, s:I, s:o, s:I}", "source", source,
                              "patientId", patient_id, "correlationId", correlation_id, "status",
                              outcome_name(o), "delayMs", (json_int_t)delay_ms, "notes", notes,
                              "elapsedMs", (json_int_t)(elapsed_ms < 0 ? 0 : elapsed_ms));
    if (!ev) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            err_nomem(e);
        else
            err_set(e, "outcome event: %s", jerr.text);
        return NULL;
    }
    if (reason && json_object_set_new(ev, "reason", json_string(reason)) != 0) {
        json_decref(ev);
        err_nomem(e); /* reason is one of the program's own texts: only memory can fail */
        return NULL;
    }
    char *out = jbody_dumps(ev, e);
    json_decref(ev);
    return out;
}
