/* audit: the audit outbox's Redis calls (a consumer group per bucket stream), their replies. */
#ifndef AGG_AUDIT_H
#define AGG_AUDIT_H

#include <stddef.h>

#include "err.h"
#include "rds.h"
#include "session.h"

struct redisReply;

/* The consumer group every worker's relay joins on each bucket's outbox. */
#define AUDIT_GROUP "agg-audit"
/* An XAUTOCLAIM cursor ("0-0" to start), a stream entry id. */
#define AUDIT_ID_MAX 48
/* Entries one audit_call_ack takes: what RDS_CALL_MAX_ARGV leaves after the key and group. */
#define AUDIT_ACK_MAX (RDS_CALL_MAX_ARGV - 2)

/* A call being built, as session_call: send it at once, then discard it. */
typedef struct audit_call {
    rds_call call;
    char key[SESSION_KEY_MAX];
    char num[2][24];
} audit_call;

/* Builders: each fills *ac with one call on bucket's outbox. AGG_ERR with e filled when bucket
 * is out of range, a string is missing, or a number is below 1. Strings borrowed for the call. */
/* XGROUP CREATE <key> agg-audit 0 MKSTREAM; reply by audit_group_reply. */
int audit_call_group(audit_call *ac, int bucket, err_t *e);
/* XREADGROUP GROUP agg-audit <consumer> COUNT <count> STREAMS <key> >: entries no relay has
 * read; reply by audit_read_reply. */
int audit_call_read(audit_call *ac, int bucket, const char *consumer, int count, err_t *e);
/* XAUTOCLAIM <key> agg-audit <consumer> <min_idle_ms> <cursor> COUNT <count>: entries read by
 * a relay that did not acknowledge them for min_idle_ms (it died, or Kafka failed them);
 * reply by audit_claim_reply. */
int audit_call_claim(audit_call *ac, int bucket, const char *consumer, long min_idle_ms,
                     const char *cursor, int count, err_t *e);
/* audit_ack.lua: XACK and XDEL of the n entries ids[0..n) once Kafka confirmed them, in one
 * call (the relay confirms records in batches: one call per record was two script calls per
 * session). 1 <= n <= AUDIT_ACK_MAX; every id non-empty. */
int audit_call_ack(audit_call *ac, int bucket, const char *const *ids, int n, err_t *e);
/* XLEN: the entries still to publish (integer reply). */
int audit_call_len(audit_call *ac, int bucket, err_t *e);

/* XGROUP CREATE's reply: AGG_OK for OK and for BUSYGROUP (the group exists), AGG_ERR with e
 * filled otherwise. */
int audit_group_reply(const struct redisReply *reply, err_t *e);
/* XREADGROUP's reply: AGG_OK with *entries (borrowed from reply; NULL when none) the list of
 * entries and *n their number; AGG_ERR with e filled for an error or another shape. */
int audit_read_reply(const struct redisReply *reply, const struct redisReply **entries, size_t *n,
                     err_t *e);
/* XAUTOCLAIM's reply: as audit_read_reply, and the cursor of the next claim copied into cursor
 * ("0-0": the stream was scanned to its end). */
int audit_claim_reply(const struct redisReply *reply, const struct redisReply **entries, size_t *n,
                      char cursor[AUDIT_ID_MAX], err_t *e);

/* One outbox entry: fields id, type, cid, trace and d as the session scripts write them.
 * Pointers borrow from the reply; strings are NUL-terminated (hiredis's). */
typedef struct audit_entry {
    const char *id;    /* the stream entry id */
    const char *type;  /* "requested" or "completed" */
    const char *cid;   /* the correlation id: the Kafka key */
    const char *trace; /* the session's trace id; "" when none */
    const char *data;  /* the record (schemas/kafka/audit.schema.json) */
    size_t data_len;
    int valid; /* 0: the entry has an id but its fields are not a record; it can never be
                * published (acknowledge it so that it does not come back); only id is set */
} audit_entry;

/* Reads entry i of entries. AGG_OK with *out filled (see valid); AGG_ERR when i is out of range
 * or the entry has no id (skip it). */
int audit_entry_at(const struct redisReply *entries, size_t i, audit_entry *out);

#endif
