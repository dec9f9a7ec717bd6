/* journalreq: the clinician's journal request (the POST /aggregate/journals body), validated. */
#ifndef AGG_JOURNALREQ_H
#define AGG_JOURNALREQ_H

#include <stddef.h>

#include "apierr.h"
#include "reslist.h"

typedef enum strategy_t { STRATEGY_SSE = 0, STRATEGY_WAIT_FOR_EVERYONE } strategy_t;

#define JOURNALREQ_PATIENT_ID_MAX 64
#define JOURNALREQ_DELAY_MAX_MS   600000
#define JOURNALREQ_DELAY_MIN      (-8) /* the resource simulator's fault modes */

typedef struct journal_request {
    char patient_id[JOURNALREQ_PATIENT_ID_MAX + 1];
    long delays[RESLIST_MAX]; /* one per resource, missing entries are 0 */
    int n_delays;             /* entries given */
    long timeout_ms;          /* after defaulting and capping */
    strategy_t strategy;
} journal_request;

typedef struct journalreq_limits {
    long timeout_default_ms; /* AGGREGATOR_TIMEOUT_DEFAULT_MS */
    long timeout_max_ms;     /* AGGREGATOR_TIMEOUT_MAX_MS */
    int n_resources;         /* resources configured; more delays than this is a 400 */
} journalreq_limits;

/* Parses and validates body (len bytes, need not be NUL-terminated).
 * patientId: required string, 1..64 chars of [A-Za-z0-9._:-].
 * delays: a string "1000,2000,-1" (empty = none) or an array of integers;
 *   each in [-8, 600000]; -1 = refuse (401), -2 = fail (500), -3 = drop the
 *   connection, -4..-8 the other fault modes of resource-sim (docs/architecture.md,
 *   "Resources that misbehave"); at most lim->n_resources entries.
 * timeoutMs: integer; missing/null -> default; > max -> max; <= 0 -> 400.
 * strategy: "SSE" (default) or "WAIT_FOR_EVERYONE".
 * On error fills e (400, code "invalid_json" | "missing_field" |
 * "invalid_field", field = the JSON name) and returns AGG_ERR. */
int journalreq_parse(const char *body, size_t len, const journalreq_limits *lim,
                     journal_request *out, api_error *e);

/* "SSE" or "WAIT_FOR_EVERYONE". */
const char *journalreq_strategy_name(strategy_t s);

#endif
