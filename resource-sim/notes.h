/* notes: pure generation of journal notes and of the resource's result JSON bodies. */
#ifndef RS_NOTES_H
#define RS_NOTES_H

#include <stddef.h>

#include "err.h"

#define NOTES_RESOURCE_ID_MAX 64
#define NOTES_DATE_LEN        20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* 1 when id is 1..NOTES_RESOURCE_ID_MAX characters of [A-Za-z0-9._-], else 0. */
int notes_resource_id_valid(const char *id);

/* A stable 32-bit hash (FNV-1a) of the resource id; drives dates and ids. */
unsigned notes_resource_hash(const char *resource_id);

/* The date (epoch seconds) of note i (0-based) of resource_id at now_s:
 * now_s - (i*3 + h%3 + 1) days - ((h/3) % 1440) minutes - ((h/4320) % 60) s,
 * h = notes_resource_hash(). Note 0 is the newest; dates are distinct within
 * a resource, and across resources whose hashes differ modulo 259200. */
long long notes_date_s(const char *resource_id, int i, long long now_s);

/* Writes epoch_s as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out, which must hold
 * NOTES_DATE_LEN + 1 bytes. AGG_OK, or AGG_ERR with e (may be NULL) filled
 * when the date is out of range. */
int notes_format_date(long long epoch_s, char *out, err_t *e);

/* The answer body (to callbackUrl, or the direct answer) with n generated notes, dated from now_ms:
 * {"source","patientId","correlationId","delayMs","status":"ok","notes":[...]},
 * compact, keys in this order; "correlationId" is left out when correlation_id
 * is NULL (/journals/direct); n <= 0 gives "notes":[]. Each note is {"id","date",
 * "caregiverId","patientId","doctorId","note"}. Strings are escaped as jansson's
 * json_dumps() does ('"', '\\', control bytes; not '/' or UTF-8).
 * Note ids are random lowercase version-4 UUIDs from a fast PRNG (xoshiro256**)
 * seeded once from getrandom(): unique with overwhelming probability, not
 * cryptographic (never use them as secrets). The PRNG state is one static, so
 * this is not thread-safe; the resource-sim calls it from its one event loop.
 * Strings are borrowed for the call only; patient_id must be valid UTF-8.
 * Returns a malloc'd string (caller frees), or NULL with e filled: "out of
 * memory", a NULL resource_id or patient_id, a string that is not valid
 * UTF-8, or (n > 0) a note date that notes_format_date() cannot write. */
char *notes_result_json(const char *resource_id, const char *patient_id, const char *correlation_id,
                        long delay_ms, int n, long long now_ms, err_t *e);

/* The direct answer for delay -1, compact and in this key order:
 * {"source","patientId","status":"REJECTED","notes":null,"delayMs":-1}.
 * Strings are borrowed for the call only and escaped as in notes_result_json().
 * malloc'd (caller frees); NULL with e filled ("out of memory", or a NULL or
 * non-UTF-8 resource_id or patient_id). */
char *notes_rejected_json(const char *resource_id, const char *patient_id, err_t *e);

/* The catalogue of note texts a note takes its text from (note i of a body
 * uses text (hash + i) % notes_text_count()); for reference models in
 * tests. Static strings; notes_text is NULL past the end. */
size_t notes_text_count(void);
const char *notes_text(size_t i);

#endif
