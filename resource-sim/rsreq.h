/* rsreq: pure validation of the resource's request bodies (POST /journals and /journals/direct). */
#ifndef RS_RSREQ_H
#define RS_RSREQ_H

#include <stddef.h>

#include "apierr.h"
#include "uuid4.h"

#define RSREQ_PATIENT_MAX 64   /* characters (UTF-8 code points) */
#define RSREQ_URL_MAX     2048 /* bytes */
#define RSREQ_DELAY_MIN   (-8)   /* POST /journals; /journals/direct: -3 */
#define RSREQ_DELAY_MAX   600000 /* ms */

/* Delay values with a special meaning (the fault modes of docs/architecture.md, "Resources that
 * misbehave"); -4 to -8 only for POST /journals. */
enum {
    RSREQ_DELAY_REJECT = -1,   /* 401 */
    RSREQ_DELAY_FAIL = -2,     /* 500 */
    RSREQ_DELAY_DROP = -3,     /* connection closed without an answer */
    RSREQ_DELAY_SILENT = -4,   /* 200, and never calls back */
    RSREQ_DELAY_HANG = -5,     /* 200 and part of the body, then nothing */
    RSREQ_DELAY_TRICKLE = -6,  /* the 200 body a byte at a time, then calls back */
    RSREQ_DELAY_REDIRECT = -7, /* 302 to its own health endpoint */
    RSREQ_DELAY_HUGE = -8      /* 200 with a body of several MiB */
};
#define RSREQ_DIRECT_DELAY_MIN RSREQ_DELAY_DROP

typedef struct rsreq {
    char patient_id[RSREQ_PATIENT_MAX * 4 + 1]; /* valid UTF-8 */
    long delay;                                 /* RSREQ_DELAY_MIN..RSREQ_DELAY_MAX */
    char callback_url[RSREQ_URL_MAX + 1];       /* "" for /journals/direct */
    char correlation_id[UUID4_LEN + 1];         /* lowercase UUID; "" for /journals/direct */
} rsreq;

/* Parses body (len bytes) into q. with_callback_url selects POST /journals
 * ({"patientId": string 1..64, "delay": integer -8..600000, "callbackUrl":
 * http(s) URL with a host, "correlationId": lowercase UUID}) over
 * /journals/direct ({"patientId","delay"}, delay -3..600000). Unknown fields are ignored.
 * AGG_OK, or AGG_ERR with e filled (400, "invalid_json" / "missing_field" /
 * "invalid_field", naming the field). Nothing to free. */
int rsreq_parse(const char *body, size_t len, int with_callback_url, rsreq *q, api_error *e);

/* 1 when s is an http:// or https:// URL with a non-empty host and no
 * whitespace or control characters, at most RSREQ_URL_MAX bytes; else 0. */
int rsreq_url_valid(const char *s);

#endif
