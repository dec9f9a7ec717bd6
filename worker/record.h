/* record: accounting of session_record replies (metrics, logs), shared by fan-out and answers. */
#ifndef WORKER_RECORD_H
#define WORKER_RECORD_H

#include "outcome.h"
#include "worker.h"

struct redisReply;

/* Counts and logs the reply of session_record for (cid, source) with
 * outcome o: recorded/completed count in worker_outcomes_recorded_total
 * (completed also in worker_summaries_total), the refusals in
 * worker_callbacks_dropped_total. Anything else is logged as an error. */
void record_account(worker *w, const struct redisReply *reply, const char *cid, const char *source,
                    outcome_t o);

#endif
