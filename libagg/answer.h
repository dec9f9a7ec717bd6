/* answer: a resource's answer (the POST /aggregate/callback body), validated and normalised. */
#ifndef AGG_ANSWER_H
#define AGG_ANSWER_H

#include <stddef.h>

#include "apierr.h"
#include "journalreq.h"
#include "outcome.h"
#include "reslist.h"
#include "uuid4.h"

#define ANSWER_MAX_NOTES 1000

typedef struct answer_msg {
    char correlation_id[UUID4_LEN + 1];
    char source[RESLIST_NAME_MAX + 1];
    char patient_id[JOURNALREQ_PATIENT_ID_MAX + 1];
    outcome_t status;
    char *json;      /* owned: the normalised answer as JSON (see docs/architecture.md) */
    size_t json_len; /* strlen(json) */
} answer_msg;

/* Parses and validates an answer body:
 * {"source": 1..64 chars, "patientId": string 1..64, "correlationId": UUID,
 *  "delayMs": integer (optional), "status": "ok"|"REJECTED"|"TIMEOUT"|
 *  "CONNECTION_CLOSED"|"ERROR", "notes": array of notes, or null/missing
 *  when status is not "ok"}. A note is {"id","date" (ISO-8601),
 * "caregiverId","patientId","doctorId","note"}, all strings; at most
 * ANSWER_MAX_NOTES. Unknown fields are dropped from the normalised JSON;
 * a known field named twice in one object is invalid JSON. String values
 * are copied as the body spelled them (escapes kept), so the output means
 * exactly what the input meant. On error fills e (400, "invalid_json"/
 * "missing_field"/"invalid_field"; 500 on out of memory) and returns
 * AGG_ERR with *m zeroed. On success the caller owns m->json: answer_clear().
 * body is borrowed for the call only. */
int answer_parse(const char *body, size_t len, answer_msg *m, api_error *e);

/* Frees m->json and resets it. */
void answer_clear(answer_msg *m);

#endif
