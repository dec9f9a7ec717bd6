/* journalmerge: merges a finished session's log into the WAIT_FOR_EVERYONE response body. */
#ifndef AGG_JOURNALMERGE_H
#define AGG_JOURNALMERGE_H

#include <stddef.h>

#include "err.h"

/* One entry of the session log. Borrowed strings. */
typedef struct log_event {
    long long seq;
    const char *event; /* "callback" (an outcome event) or "summary" */
    const char *data;  /* JSON */
} log_event;

/* Builds {"correlationId","patientId","respondents","errors","completedBy",
 * "notes":[...newest first by date, ties by source then id...],
 * "sources":[{"source","status","elapsedMs"[,"reason"]} in log order]} from the n
 * entries of the log; respondents/errors/completedBy come from the summary
 * event. AGG_OK with *out a malloc'd string the caller frees, or AGG_ERR with
 * *out NULL and e filled: "out of memory", "the log has no summary", or
 * which entry is not valid JSON or lacks a field. patient_id and events are
 * borrowed for the call. */
int journalmerge_build(const char *patient_id, const log_event *events, size_t n, char **out,
                       err_t *e);

#endif
