/* journalmerge: merges a finished session's log into the WAIT_FOR_EVERYONE response body. */
#ifndef AGG_JOURNALMERGE_H
#define AGG_JOURNALMERGE_H

#include <stddef.h>

/* One entry of the session log. Borrowed strings. */
typedef struct log_event {
    long long seq;
    const char *event; /* "callback" (an outcome event) or "summary" */
    const char *data;  /* JSON */
} log_event;

/* Builds {"correlationId","patientId","respondents","errors","completedBy",
 * "notes":[...newest first by date, ties by source then id...],
 * "sources":[{"source","status","elapsedMs"} in log order]} from the log.
 * respondents/errors/completedBy come from the summary event; AGG_ERR-like
 * NULL when there is no summary or an entry is not valid JSON. Returns a
 * malloc'd string; caller frees. */
char *journalmerge_build(const char *patient_id, const log_event *events, size_t n);

#endif
