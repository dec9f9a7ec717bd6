/* session: a session's state in Redis: its key and channel names, the calls that open, record,
 * expire and read it, and the parsing of their replies. */
#ifndef AGG_SESSION_H
#define AGG_SESSION_H

#include <stddef.h>

#include "err.h"
#include "outcome.h"
#include "rds.h"
#include "uuid4.h"

struct redisReply;

/* Key layout. A session lives in one of SESSION_BUCKETS buckets, chosen by
 * its correlation id; the bucket is the hash tag of every key of the
 * session and of the bucket's deadline index, so each script touches one
 * Redis Cluster hash slot, and the deadline index is spread over as many
 * keys (no shared hot key):
 *   agg:{bNN}:<cid>:meta  agg:{bNN}:<cid>:out  agg:{bNN}:<cid>:log
 *   agg:{bNN}:deadlines   channel agg:{bNN}:<cid>:ev
 *   agg:{bNN}:audit       the bucket's audit outbox (a stream the scripts append to, relayed to
 *                         Kafka by the worker's auditrelay)
 * Every process must use the same SESSION_BUCKETS. */
#define SESSION_BUCKETS 16
#define SESSION_KEY_MAX 64

typedef struct session_keys {
    char meta[SESSION_KEY_MAX];
    char out[SESSION_KEY_MAX];
    char log[SESSION_KEY_MAX];
    char deadlines[SESSION_KEY_MAX];
    char audit[SESSION_KEY_MAX];
    char channel[SESSION_KEY_MAX];
} session_keys;

/* Fills *k for session cid. AGG_ERR with e filled when cid is not a
 * correlation id (a lowercase UUID). */
int session_keys_of(const char *cid, session_keys *k, err_t *e);
/* Writes bucket's audit outbox key (agg:{bNN}:audit) into out (SESSION_KEY_MAX bytes).
 * AGG_ERR with e filled when bucket is out of range. */
int session_audit_key(int bucket, char out[SESSION_KEY_MAX], err_t *e);
/* The bucket (0..SESSION_BUCKETS-1) of a valid correlation id. */
int session_bucket_of(const char *cid);
/* Copies the session id out of one of its channel names (len bytes, not
 * necessarily NUL-terminated) into cid. AGG_ERR when channel is not a
 * session channel. */
int session_cid_of_channel(const char *channel, size_t len, char cid[UUID4_LEN + 1]);

/* A call being built: the rds_call and the storage its strings point into.
 * Build it, send it at once (rds_call_send and the worker's retrying sender
 * copy it), then discard it; it must not be copied in between. */
typedef struct session_call {
    rds_call call;
    session_keys keys;
    char num[4][24];
} session_call;

/* What session_open stores. Strings borrowed for the call. */
typedef struct session_def {
    const char *cid;
    const char *patient_id;
    const char *strategy;     /* "SSE" or "WAIT_FOR_EVERYONE" */
    const char *sources_json; /* JSON array of distinct source names */
    long long created_ms;
    long long deadline_ms;
    long long now_ms;
    long ttl_s;           /* SESSION_RETENTION_S */
    const char *trace_id; /* the session's W3C trace id, stored so that every event carries it;
                           * NULL or "" = none */
    const char *owner;    /* the principal that opened it (fanout_msg.principal); required */
} session_def;

/* One outcome for (session, source). Strings borrowed for the call. */
typedef struct session_outcome {
    const char *cid;
    const char *patient_id; /* must equal the session's */
    const char *source;
    outcome_t status;
    const char *event_json; /* the outcome event's data */
    long long now_ms;
    long ttl_s;
} session_outcome;

/* Builders: each fills *sc with one call. AGG_ERR with e filled when an id
 * is not a correlation id, a string is missing, or a bucket is out of range. */
/* session_open.lua: creates the session and its deadline; reply by session_open_reply. */
int session_call_open(session_call *sc, const session_def *d, err_t *e);
/* session_record.lua: one outcome; reply by session_record_reply. */
int session_call_record(session_call *sc, const session_outcome *o, err_t *e);
/* session_expire.lua: TIMEOUT for what is missing and the summary, if due; reply by
 * session_expire_reply. */
int session_call_expire(session_call *sc, const char *cid, long long now_ms, long ttl_s, err_t *e);
/* HMGET meta state seq calls deadline owner; reply by session_state_reply. */
int session_call_state(session_call *sc, const char *cid, err_t *e);
/* Appends source to claims (netstrings "<length>:<name>,", NUL-terminated, *len
 * bytes so far, cap the buffer's size), the form session_call_claim takes and
 * session_state_called reads. AGG_ERR (claims unchanged) when it does not fit. */
int session_claims_append(char *claims, size_t cap, size_t *len, const char *source, err_t *e);
/* session_claim.lua: reads the session's state as session_call_state does and, when it
 * is open, claims the sources of claims (borrowed for the call) that no one claimed
 * before; reply by session_state_reply, with the calls claimed before this one. */
int session_call_claim(session_call *sc, const char *cid, const char *claims, err_t *e);
/* XRANGE of the log after event after_seq (0: all); reply read with session_log_entry. */
int session_call_log(session_call *sc, const char *cid, long long after_seq, err_t *e);
/* ZRANGEBYSCORE of bucket's deadline index: at most limit sessions due by now_ms; reply read
 * with session_due_entry. */
int session_call_due(session_call *sc, int bucket, long long now_ms, int limit, err_t *e);

/* For logs: an error reply's text, "no reply" for NULL, else "unexpected
 * reply". Borrowed from reply or static. */
const char *session_reply_error(const struct redisReply *reply);

/* session_open's reply: AGG_OK when the session exists now (created, or it
 * already did); AGG_ERR with e filled otherwise (a script error's text). */
int session_open_reply(const struct redisReply *reply, err_t *e);

typedef enum session_record_result {
    SESSION_RECORDED = 0, /* the outcome was written */
    SESSION_COMPLETED,    /* written, and it was the last one: the summary too */
    SESSION_DUPLICATE,    /* the refusals, SESSION_DUPLICATE..SESSION_INVALID_STATUS */
    SESSION_UNKNOWN_SESSION,
    SESSION_FINISHED,
    SESSION_UNKNOWN_SOURCE,
    SESSION_PATIENT_MISMATCH,
    SESSION_INVALID_STATUS,
    SESSION_RECORD_UNEXPECTED /* any other reply: a script and a process of different versions */
} session_record_result;

#define SESSION_REFUSALS (SESSION_INVALID_STATUS - SESSION_DUPLICATE + 1)

/* Parses session_record's reply {result, seq}; *seq (may be NULL) gets the
 * event's seq when recorded or completed, else 0. */
session_record_result session_record_reply(const struct redisReply *reply, long long *seq);
/* 1 for the refusals (the outcome was not written). */
int session_record_refused(session_record_result r);
/* The wire name ("recorded", "duplicate", ...), also the metric label; "unexpected" for
 * SESSION_RECORD_UNEXPECTED. Static. */
const char *session_record_name(session_record_result r);

typedef enum session_expire_result {
    SESSION_EXPIRED = 0, /* TIMEOUTs and the summary were written */
    SESSION_NOT_DUE,     /* the deadline has not passed */
    SESSION_GONE,        /* no open session (finished, expired, never opened) */
    SESSION_EXPIRE_UNEXPECTED
} session_expire_result;

/* Parses session_expire's reply. */
session_expire_result session_expire_reply(const struct redisReply *reply);
/* The wire name ("expired", "not-due", "gone"; "unexpected"). Static. */
const char *session_expire_name(session_expire_result r);
/* How long the session ran (its creation to its summary, ms) from the reply of session_record
 * that completed it or of session_expire that expired it; -1 for any other reply. */
long long session_summary_elapsed_ms(const struct redisReply *reply);
/* How many sources an "expired" reply of session_expire timed out (0 for any other reply), and
 * the name of source i of them (borrowed from reply; NULL when i is out of range or it is not
 * a string). */
size_t session_expire_sources(const struct redisReply *reply);
const char *session_expire_source(const struct redisReply *reply, size_t i);

typedef struct session_state {
    int exists;   /* the session is in Redis */
    int done;     /* its summary is written */
    long long seq; /* events in its log */
    /* meta's "calls": the sources whose call a worker has begun, not to be
     * called again, as netstrings "<length>:<name>," (borrowed from the reply;
     * NULL when none) */
    const char *calls;
    size_t calls_len;
    long long deadline_ms; /* session_call_state only: meta's deadline (epoch ms); 0 unknown */
    /* session_call_state only: meta's owner, the principal that opened the session (borrowed
     * from the reply, not NUL-terminated); NULL when absent (a session of an older gateway) */
    const char *owner;
    size_t owner_len;
} session_state;

/* Parses the reply of session_call_state or session_call_claim. AGG_ERR with e
 * filled on an error reply or another shape. st borrows from reply. */
int session_state_reply(const struct redisReply *reply, session_state *st, err_t *e);
/* 1 when the session of st (exists) was opened by principal (NUL-terminated); 0 when by another
 * one or when its owner is unknown (a session without one is nobody's under AUTH_MOD=jwt). */
int session_state_owned_by(const session_state *st, const char *principal);
/* 1 when st lists source as claimed (a worker began its call): a re-delivered
 * fan-out message must not call it again. 0 when not, or when the list is
 * malformed from that point on. */
int session_state_called(const session_state *st, const char *source);

/* One event of the log. Pointers borrow from the reply. */
typedef struct session_event {
    long long seq;
    const char *name; /* "callback" (an outcome event) or "summary" */
    size_t name_len;
    const char *data; /* the event's JSON */
    size_t data_len;
} session_event;

/* The reply of session_call_log or session_call_due: AGG_OK with its
 * number of entries in *n, AGG_ERR with e filled when it is an error or
 * not a list. */
int session_list_reply(const struct redisReply *reply, size_t *n, err_t *e);

/* Reads entry i of a session_call_log reply (reply->elements entries).
 * AGG_ERR when the reply is not a log or entry i is malformed (skip it). */
int session_log_entry(const struct redisReply *reply, size_t i, session_event *ev);
/* 1 when ev is the summary. */
int session_event_is_summary(const session_event *ev);

/* Reads member i of a session_call_due reply of bucket into cid. AGG_ERR
 * when it is not a correlation id of that bucket (skip it). */
int session_due_entry(const struct redisReply *reply, size_t i, int bucket,
                      char cid[UUID4_LEN + 1]);

#endif
