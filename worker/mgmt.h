/* mgmt: the worker's management HTTP server (health probes and Prometheus metrics). */
#ifndef WORKER_MGMT_H
#define WORKER_MGMT_H

#include "worker.h"

/* Starts listening on BIND_ADDR:MANAGEMENT_PORT; sets w->mgmt. AGG_ERR with
 * e filled when the port cannot be bound.
 *   GET /actuator/health            200 {"status":"UP","components":{"redis":..,"kafka":..,
 *                                   "partitions":{"status":..,"assigned":N,"requests":R,
 *                                   "callbacks":C}}} (R + C = N; status UP when both
 *                                   are above 0) or 503 with
 *                                   "DOWN" when Redis or Kafka is unreachable
 *   GET /actuator/health/liveness   200 {"status":"UP"} while the loop runs
 *   GET /actuator/health/readiness  as /actuator/health, and DOWN while draining or while
 *                                   it owns no partition in one of its two groups (a
 *                                   standby)
 *   GET /actuator/prometheus        text format 0.0.4
 * Other paths 404, other methods 405, with a JSON error body. */
int mgmt_start(worker *w, err_t *e);
/* Stops the server (NULL-safe on w->mgmt). */
void mgmt_stop(worker *w);

#endif
