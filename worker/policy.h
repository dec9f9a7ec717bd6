/* policy: the worker's pure reading of the session scripts' replies (record, expire). */
#ifndef WORKER_POLICY_H
#define WORKER_POLICY_H

struct redisReply;

/* The result of session_record, from its reply {result, seq}. */
typedef enum policy_record {
    POLICY_RECORDED = 0, /* "recorded": the outcome was written */
    POLICY_COMPLETED,    /* "completed": written, and it was the last one (summary) */
    POLICY_DUPLICATE,    /* the dropped ones, in the order of policy_drop_name() */
    POLICY_UNKNOWN_SESSION,
    POLICY_FINISHED,
    POLICY_UNKNOWN_SOURCE,
    POLICY_PATIENT_MISMATCH,
    POLICY_INVALID_STATUS,
    POLICY_RECORD_UNKNOWN /* any other string: a script/worker version mismatch */
} policy_record;

#define POLICY_DROP_REASONS 6

/* The result of session_expire. */
typedef enum policy_expire {
    POLICY_EXPIRED = 0, /* "expired": TIMEOUTs and the summary were written */
    POLICY_NOT_DUE,     /* "not-due" */
    POLICY_GONE,        /* "gone": no open session (finished or expired) */
    POLICY_EXPIRE_UNKNOWN
} policy_expire;

/* The result string of a script reply: the first element of an array whose
 * first element is a string or status, or a plain string/status reply.
 * NULL when reply is NULL, an error, or has another shape (the caller
 * retries or reports). Borrowed from reply. */
const char *policy_script_result(const struct redisReply *reply);

/* Maps a session_record result string (NULL allowed) to policy_record. */
policy_record policy_record_parse(const char *result);
/* Maps a session_expire result string (NULL allowed) to policy_expire. */
policy_expire policy_expire_parse(const char *result);
/* 1 when r is one of the dropped-callback results, else 0. */
int policy_is_drop(policy_record r);
/* Index 0..POLICY_DROP_REASONS-1 of a dropped result (policy_is_drop(r) must hold). */
int policy_drop_index(policy_record r);
/* The metric label / wire name of drop index i ("duplicate", ...). Static. */
const char *policy_drop_name(int i);

#endif
