/* outcome: per-resource outcome statuses, how they count, and how HTTP results map to them. */
#ifndef AGG_OUTCOME_H
#define AGG_OUTCOME_H

#include "err.h"

typedef enum outcome_t {
    OUTCOME_OK = 0,            /* "ok": an answer with notes; a respondent */
    OUTCOME_REJECTED,          /* "REJECTED": 401; neither respondent nor error */
    OUTCOME_TIMEOUT,           /* "TIMEOUT": error */
    OUTCOME_CONNECTION_CLOSED, /* "CONNECTION_CLOSED": error */
    OUTCOME_ERROR,             /* "ERROR": error */
    OUTCOME_ACCEPTED           /* 2xx to the fan-out call: no outcome yet, wait for the answer */
} outcome_t;

/* How an outbound HTTP exchange ended at the transport level. */
typedef enum transport_t {
    TRANSPORT_OK = 0,         /* a complete HTTP response was received */
    TRANSPORT_TIMEOUT,        /* connect or total timeout passed */
    TRANSPORT_CONNECT_FAILED, /* refused, unreachable, DNS failure */
    TRANSPORT_CLOSED,         /* connection reset or closed without (a full) answer */
    TRANSPORT_OTHER           /* anything else */
} transport_t;

/* The wire name ("ok", "REJECTED", ...); "ACCEPTED" for OUTCOME_ACCEPTED. Static string. */
const char *outcome_name(outcome_t o);
/* Parses a wire name (exact, case-sensitive) of a final outcome (not ACCEPTED).
 * AGG_OK with *out set, or AGG_ERR with e (may be NULL) filled. name is
 * borrowed for the call. */
int outcome_from_name(const char *name, outcome_t *out, err_t *e);
/* Maps the fan-out call's result to an outcome:
 * TRANSPORT_OK+2xx -> ACCEPTED, +401 -> REJECTED, +other -> ERROR;
 * TIMEOUT -> TIMEOUT; CONNECT_FAILED and CLOSED -> CONNECTION_CLOSED; OTHER -> ERROR. */
outcome_t outcome_classify(transport_t t, long http_status);
/* 1 when the outcome counts as a respondent (ok), else 0. */
int outcome_is_respondent(outcome_t o);
/* 1 when the outcome counts as an error (TIMEOUT, CONNECTION_CLOSED, ERROR), else 0. */
int outcome_is_error(outcome_t o);

/* The event data for an outcome the worker observed itself (not an answer):
 * {"source","patientId","correlationId","status","delayMs","notes":[],"elapsedMs"}.
 * Returns malloc'd JSON; caller frees. NULL with e filled ("out of memory",
 * a NULL string, or a string that is not valid UTF-8). The strings are
 * borrowed for the call. */
char *outcome_event_json(const char *source, const char *patient_id, const char *correlation_id,
                         outcome_t o, long delay_ms, long long elapsed_ms, err_t *e);
/* The same with a "reason" member (a short text saying why, e.g. "circuit open"; borrowed);
 * reason NULL adds none. */
char *outcome_event_json_reason(const char *source, const char *patient_id,
                                const char *correlation_id, outcome_t o, const char *reason,
                                long delay_ms, long long elapsed_ms, err_t *e);

#endif
