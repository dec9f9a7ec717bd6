/* fanoutmsg: the fan-out message on the requests topic (gateway builds it, worker parses it). */
#ifndef AGG_FANOUTMSG_H
#define AGG_FANOUTMSG_H

#include <stddef.h>

#include "err.h"
#include "journalreq.h"
#include "reslist.h"
#include "uuid4.h"

#define FANOUTMSG_URL_MAX 512

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
    fanoutmsg_resource resources[RESLIST_MAX];
    int n_resources;
} fanout_msg;

/* Fills m from a validated request: resource i gets delay r->delays[i] (0
 * when not given). cid must be a 36-char UUID. Resource slots from
 * n_resources on are left as they were (never read). */
void fanoutmsg_from_request(fanout_msg *m, const journal_request *r, const resource_list *res,
                            const char *cid, long long created_ms, const char *callback_url);

/* Returns the malloc'd JSON of the message (schemas/kafka/request.schema.json);
 * caller frees. NULL on out of memory. */
char *fanoutmsg_to_json(const fanout_msg *m);

/* Parses and validates a message (len bytes). AGG_ERR with e filled on any
 * deviation from the schema; m is then unspecified. Resource slots from
 * n_resources on are left as they were (never read). */
int fanoutmsg_parse(const char *json, size_t len, fanout_msg *m, err_t *e);

/* The JSON array of source names, e.g. ["resource-1","resource-2"]; malloc'd. */
char *fanoutmsg_sources_json(const fanout_msg *m);

#endif
