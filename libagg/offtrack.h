/* offtrack: per-partition in-flight offsets, so a worker commits only what it finished. */
#ifndef AGG_OFFTRACK_H
#define AGG_OFFTRACK_H

#include <stdint.h>

#include "err.h"

/* Messages finish out of order (a slow resource does not hold back a fast
 * one), but Kafka commits one offset per partition. The committable offset of
 * a partition is the lowest offset still in flight, or last finished + 1 when
 * none is: committing it never skips an unfinished message. */

typedef struct offtrack offtrack;

/* A new tracker, freed with offtrack_free(). NULL with e filled ("out of memory"). */
offtrack *offtrack_new(err_t *e);
void offtrack_free(offtrack *t);

/* Records that (topic_id, partition, offset) was received and is being handled.
 * topic_id is a small caller-chosen integer (0..15). AGG_ERR with e filled on
 * out of memory, a topic or partition out of range, a negative offset, or an
 * offset not above the last one begun on that partition. */
int offtrack_begin(offtrack *t, int topic_id, int32_t partition, int64_t offset, err_t *e);
/* Records that it finished. AGG_ERR with e filled when it was not in flight. */
int offtrack_done(offtrack *t, int topic_id, int32_t partition, int64_t offset, err_t *e);
/* When the committable offset of the partition advanced since the last call
 * that returned 1, sets *next and returns 1; else returns 0. */
int offtrack_committable(offtrack *t, int topic_id, int32_t partition, int64_t *next);
/* Forgets a partition (revoked in a rebalance). */
void offtrack_forget(offtrack *t, int topic_id, int32_t partition);
/* Total messages in flight. */
long offtrack_in_flight(const offtrack *t);

#endif
