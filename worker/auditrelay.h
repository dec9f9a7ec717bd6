/* auditrelay: relays the audit outbox (agg:{bNN}:audit streams) to the audit topic. */
#ifndef WORKER_AUDITRELAY_H
#define WORKER_AUDITRELAY_H

#include "worker.h"

/* Creates the relay's state and its Kafka producer (acks=all, idempotence). Call after
 * wmetrics_init and before the first loop pass; the Redis client (w->r) may come later. AGG_ERR
 * with e filled on out of memory or a producer librdkafka refuses. */
int auditrelay_init(worker *w, err_t *e);
/* From the loop's prepare hook: every AUDIT_POLL_MS reads what is new in each bucket's outbox,
 * and every second claims what dead relays left pending and samples the outbox's length.
 * Produces each entry (key correlationId, header traceparent); the entries Kafka confirmed are
 * acknowledged and deleted together, one call per bucket and loop pass (also while stopping, so
 * that a drained worker leaves nothing to publish twice). No new reads while stopping. */
void auditrelay_prepare(worker *w);
/* Flushes the producer for up to flush_ms (the acknowledgements of what it confirms then are
 * not sent: another relay publishes those entries again after AUDIT_CLAIM_IDLE_MS) and frees
 * the state. Before rds_free. */
void auditrelay_shutdown(worker *w, int flush_ms);

#endif
