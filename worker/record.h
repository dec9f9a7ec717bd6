/* record: accounting of session_record replies (metrics, logs), shared by fan-out and answers. */
#ifndef WORKER_RECORD_H
#define WORKER_RECORD_H

#include "outcome.h"
#include "worker.h"

struct redisReply;

/* Counts and logs the reply of session_record for (cid, source) with
 * outcome o: recorded/completed count in worker_outcomes_recorded_total and
 * aggregator_outcomes_total{source,status} (res: source's index, wmetrics_source; -1 when it
 * is not configured), completed also in worker_summaries_total and
 * aggregator_sessions_completed_total with the session's duration, the refusals in
 * callbacks_dropped_total. Anything else is logged as an error. */
void record_account(worker *w, const struct redisReply *reply, const char *cid, const char *source,
                    int res, outcome_t o);

#endif
