/* fanoutmsg: the fan-out message on the requests topic (gateway builds it, worker parses it). */
#ifndef AGG_FANOUTMSG_H
#define AGG_FANOUTMSG_H

#include <stddef.h>

#include "err.h"
#include "journalreq.h"
#include "reslist.h"
#include "uuid4.h"

#define FANOUTMSG_URL_MAX 512
/* Who asked: the token's sub (jwtauth), "anonymous" under AUTH_MODE=none. */
#define FANOUTMSG_PRINCIPAL_MAX 255
#define FANOUTMSG_ANONYMOUS "anonymous"

typedef struct fanoutmsg_resource {
    char source[RESLIST_NAME_MAX + 1];
    char url[RESLIST_URL_MAX + 1];
    long delay_ms;
} fanoutmsg_resource;

typedef struct fanout_msg {
    char correlation_id[UUID4_LEN + 1];
    char patient_id[JOURNALREQ_PATIENT_ID_MAX + 1];
    strategy_t strategy;
    long timeout_ms;
    long long created_ms;  /* wall clock, epoch ms */
    long long deadline_ms; /* created_ms + timeout_ms */
    char callback_url[FANOUTMSG_URL_MAX + 1];
    char principal[FANOUTMSG_PRINCIPAL_MAX + 1]; /* the session's owner */
    int n_resources;                /* 0..RESLIST_MAX */
    fanoutmsg_resource resources[]; /* exactly n_resources of them */
} fanout_msg;

/* Bytes of a message that holds n resources. */
size_t fanoutmsg_size(int n);

/* 1 when s (n bytes) is a valid principal: 1..FANOUTMSG_PRINCIPAL_MAX printable ASCII
 * characters (0x20..0x7e), so that it is safe in a Redis field, a log line and a header. */
int fanoutmsg_principal_ok(const char *s, size_t n);

/* A new message for a validated request r to the resources res (NULL: none):
 * resource i gets delay r->delays[i] (0 when not given). cid must be a
 * 36-char UUID; principal a valid principal (fanoutmsg_principal_ok) or NULL
 * for FANOUTMSG_ANONYMOUS. Allocated for exactly res->n resources (at most
 * RESLIST_MAX); the caller frees it with fanoutmsg_free(). NULL with e filled
 * ("out of memory", or an invalid principal). r, res, cid, callback_url and
 * principal are borrowed for the call. */
fanout_msg *fanoutmsg_from_request(const journal_request *r, const resource_list *res,
                                   const char *cid, long long created_ms, const char *callback_url,
                                   const char *principal, err_t *e);

/* Frees a message of fanoutmsg_from_request() or fanoutmsg_parse(); m may be NULL. */
void fanoutmsg_free(fanout_msg *m);

/* Returns the malloc'd JSON of the message (schemas/kafka/request.schema.json);
 * caller frees. NULL with e filled ("out of memory"). m is borrowed. */
char *fanoutmsg_to_json(const fanout_msg *m, err_t *e);

/* Parses and validates a message (len bytes, borrowed for the call) into a
 * new message allocated for exactly the resources it lists; the caller frees
 * it with fanoutmsg_free(). NULL with e filled on any deviation from the
 * schema, or "out of memory". */
fanout_msg *fanoutmsg_parse(const char *json, size_t len, err_t *e);

/* The JSON array of source names, e.g. ["resource-1","resource-2"]; malloc'd,
 * caller frees. NULL with e filled ("out of memory"). m is borrowed. */
char *fanoutmsg_sources_json(const fanout_msg *m, err_t *e);

#endif
