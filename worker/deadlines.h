/* deadlines: the scanner that expires every session whose deadline passed, whoever opened it. */
#ifndef WORKER_DEADLINES_H
#define WORKER_DEADLINES_H

#include "worker.h"

/* Sets up w->deadlines. AGG_ERR on out of memory. */
int deadlines_init(worker *w, err_t *e);
/* Frees w->deadlines. Call after rds_free() (which answers pending calls). */
void deadlines_shutdown(worker *w);

/* Called before each loop wait: every DEADLINE_POLL_MS, unless a scan is
 * still running or the worker is stopping, reads up to 256 due sessions of
 * every bucket's deadline index (session_call_due, all buckets in one round
 * trip) and runs session_expire on each; caps the wait until the next scan.
 * A full batch scans again at once. A scan that fails (Redis down) is
 * simply repeated at the next tick: due sessions stay in their index until
 * expired. */
void deadlines_prepare(worker *w);

/* 1 while a scan (or one of its expire calls) is outstanding. */
int deadlines_busy(const worker *w);

#endif
